//! Property-based tests over every payload decoder and validator: any
//! input gets an answer (Ok or a typed error), never a panic, and the
//! invariants the security model relies on hold for all inputs.

use proptest::prelude::*;
use serde_json::Value;

use switchboard::realtime::cx::parse;

/// Any JSON value, a few levels deep, with hostile strings.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("chatId"),
            Just("{x}"),
            Just("👍"),
            Just("@bob"),
            Just("\u{0}")
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("chatId".to_string()),
                    Just("content".to_string()),
                    Just("userIds".to_string()),
                    Just("callId".to_string()),
                    Just("status".to_string()),
                    Just("emoji".to_string()),
                    Just("media".to_string()),
                    Just("offer".to_string()),
                    ".{0,12}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

macro_rules! decodes {
    ($v:expr, $($t:ty),+) => {
        $( let _ = parse::<$t>($v.clone()); )+
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_request_type_decodes_or_refuses(v in json()) {
        use switchboard::{calls, chat, messages, presence, reactions};
        decodes!(v,
            chat::service::CreateChat, messages::validate::SendMessage, messages::service::Receipt,
            messages::service::HistoryRequest, messages::service::SyncRequest, presence::Update,
            presence::Users, calls::Initiate, calls::Answer, calls::Hangup,
            calls::Candidate, reactions::ReactionRef);
        // A decoded message is validated without panicking.
        if let Ok(m) = parse::<messages::validate::SendMessage>(v.clone()) {
            let cfg = switchboard::config::Config::defaults().messages;
            if messages::validate::validate(&m, &cfg).is_ok() {
                prop_assert!(m.content.len() <= cfg.max_content_bytes);
            }
        }
    }

    #[test]
    fn http_bodies_decode_or_refuse(v in json()) {
        let _ = serde_json::from_value::<switchboard::webhooks::Inbound>(v.clone());
        let _ = serde_json::from_value::<switchboard::messages::routes::PostMessage>(v.clone());
        let _ = serde_json::from_value::<switchboard::chat::PutChat>(v.clone());
        let _ = serde_json::from_value::<switchboard::admin::routes::Broadcast>(v);
    }

    #[test]
    fn raw_bytes_never_panic_the_json_layer(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
            let _ = parse::<switchboard::messages::validate::SendMessage>(v);
        }
    }

    #[test]
    fn emoji_validation_accepts_only_single_listed_emoji(s in ".{0,12}") {
        if switchboard::reactions::validate_emoji(&s).is_ok() {
            prop_assert!(emojis::get(&s).is_some());
        }
    }

    #[test]
    fn key_ids_are_injective_and_cannot_break_a_hash_tag(a in ".{0,64}", b in ".{0,64}") {
        use switchboard::store::redis::key_id;
        let (ka, kb) = (key_id(&a), key_id(&b));
        prop_assert_eq!(ka == kb, a == b);
        for k in [&ka, &kb] {
            let safe = !k.contains(['{', '}', '\n', ':']);
            prop_assert!(safe, "unsafe key id {:?}", k);
        }
    }

    #[test]
    fn identifiers_are_validated_without_panics(s in ".{0,300}") {
        let _ = switchboard::ids::validate_chat_id(&s);
        let _ = switchboard::ids::validate_user_id(&s);
        let _ = switchboard::channels::validate_channel(&s);
        let _ = switchboard::inbox::validate_event(&s);
        let _ = switchboard::channels::parse_rules(&s);
        let _ = switchboard::webhooks::cache::parse_rules(&s);
        let _ = switchboard::rate_limit::parse_limit(&s);
        let _ = s.parse::<switchboard::security::Cidr>();
        let _ = switchboard::auth::connect::bearer(&s);
        let members = vec!["bob".to_string(), s.clone()];
        for m in switchboard::notifications::mentions(&s, &members, "alice") {
            prop_assert!(members.contains(&m) && m != "alice");
        }
        if let Ok(rules) = switchboard::webhooks::cache::parse_rules("/menu global; /o* user day") {
            if let Some(k) = switchboard::webhooks::cache::key_for(&rules, "bot", "u", &s, "2026-01-01") {
                prop_assert!(k.starts_with("bot:"));
            }
        }
    }

    #[test]
    fn signatures_verify_only_what_was_signed(body in prop::collection::vec(any::<u8>(), 0..128),
                                            header in ".{0,80}", t in 0i64..4_000_000_000) {
        use switchboard::webhooks::sign::{sign, verify};
        let _ = verify("secret-0123456789", Some(&header), &body, 300, t);
        let h = sign("secret-0123456789", t, &body);
        prop_assert!(verify("secret-0123456789", Some(&h), &body, 300, t).is_ok());
        let mut other = body.clone();
        other.push(b'x');
        prop_assert!(verify("secret-0123456789", Some(&h), &other, 300, t).is_err());
        prop_assert!(verify("another-secret-012", Some(&h), &body, 300, t).is_err());
    }

    #[test]
    fn forwarded_for_never_panics_and_is_ignored_when_untrusted(xff in ".{0,80}") {
        use switchboard::security::client_ip;
        let mut h = axum::http::HeaderMap::new();
        if let Ok(v) = xff.parse() {
            h.insert("x-forwarded-for", v);
        }
        let peer: std::net::IpAddr = "203.0.113.1".parse().unwrap();
        prop_assert_eq!(client_ip(peer, &h, &[]), peer);
        let trusted = vec!["203.0.113.0/24".parse().unwrap()];
        let _ = client_ip(peer, &h, &trusted);
    }
}
