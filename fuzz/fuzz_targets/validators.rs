//! Any string through every identifier and rule validator.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = switchboard::ids::validate_chat_id(s);
    let _ = switchboard::ids::validate_user_id(s);
    let _ = switchboard::channels::validate_channel(s);
    let _ = switchboard::channels::parse_rules(s);
    let _ = switchboard::webhooks::cache::parse_rules(s);
    let _ = switchboard::rate_limit::parse_limit(s);
    let _ = switchboard::reactions::validate_emoji(s);
    let _ = switchboard::inbox::validate_event(s);
    let _ = s.parse::<switchboard::security::Cidr>();
    let _ = switchboard::auth::connect::bearer(s);
    let _ = switchboard::notifications::mentions(s, &["bob".to_string()], "alice");
    let a = switchboard::store::redis::key_id(s);
    assert!(!a.contains(['{', '}', '\n']));
});
