//! Any bytes as a Socket.IO event payload: JSON decoding, then every request
//! type the event table decodes, then message validation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::realtime::cx::parse;
use switchboard::{calls, chat, messages, presence, reactions};

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = parse::<chat::service::CreateChat>(v.clone());
    let _ = parse::<messages::service::Receipt>(v.clone());
    let _ = parse::<messages::service::HistoryRequest>(v.clone());
    let _ = parse::<messages::service::SyncRequest>(v.clone());
    let _ = parse::<presence::Update>(v.clone());
    let _ = parse::<presence::Users>(v.clone());
    let _ = parse::<calls::Initiate>(v.clone());
    let _ = parse::<calls::Candidate>(v.clone());
    let _ = parse::<reactions::ReactionRef>(v.clone());
    let _ = serde_json::from_value::<switchboard::webhooks::Inbound>(v.clone());
    if let Ok(m) = parse::<messages::validate::SendMessage>(v) {
        let cfg = switchboard::config::Config::defaults().messages;
        let _ = messages::validate::validate(&m, &cfg);
    }
});
