//! switchboard-loadtest: a Socket.IO load generator for Switchboard.
//!
//! Speaks Engine.IO v4 / Socket.IO v5 frames directly over
//! tokio-tungstenite (`proto`, `client`), runs open-loop schedules
//! (`schedule`), keeps latencies in HDR histograms and prints a report as a
//! table or JSON (`report`). Scenarios are in `scenarios`,
//! `bot` (with its built-in automation backend) in `bot`.

pub mod bot;
pub mod client;
pub mod proto;
pub mod report;
pub mod scenarios;
pub mod schedule;
