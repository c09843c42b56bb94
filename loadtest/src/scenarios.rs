//! The scenarios: connect, idle, fanout, direct, churn. Each returns a
//! [`Report`]; none asserts anything about time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::client::{stamp, Client, Recorders, Stats, Target};
use crate::report::{Recorder, Report};
use crate::schedule::{self, Schedule};

/// Connects `n` clients at `rate` per second (open loop); returns them with
/// the handshake histogram and the number of failures.
pub async fn ramp(
    target: &Target,
    n: usize,
    rate: f64,
    stats: &Arc<Stats>,
    base: Instant,
    progress: bool,
) -> (Vec<Client>, Recorder, u64) {
    let sched = Schedule::new(Instant::now(), rate);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep_until(sched.due(i as u64)).await;
        let (target, stats) = (target.clone(), stats.clone());
        tasks.push(tokio::spawn(async move {
            Client::connect(&target, i, stats, base).await
        }));
        if progress && i % 1000 == 999 {
            eprint!("\rconnecting {}/{n}", i + 1);
        }
    }
    let mut clients = Vec::with_capacity(n);
    let mut handshake = Recorder::default();
    let mut failed = 0;
    for t in tasks {
        match t.await {
            Ok(Ok((c, took))) => {
                handshake.record(took);
                clients.push(c);
            }
            Ok(Err(e)) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("connect failed: {e:#}");
                }
            }
            Err(_) => failed += 1,
        }
    }
    if progress {
        eprintln!("\rconnected {}/{n} ({failed} failed)", clients.len());
    }
    (clients, handshake, failed)
}

pub(crate) async fn close_all(clients: Vec<Client>) -> Recorders {
    let mut all = Recorders::default();
    let closes = clients.into_iter().map(Client::close);
    for r in futures::future::join_all(closes).await {
        all.ack.merge(&r.ack);
        all.delivery.merge(&r.delivery);
    }
    all
}

pub(crate) fn finish(
    name: &str,
    started: Instant,
    stats: &Stats,
    rec: &Recorders,
    mut r: Report,
) -> Report {
    r.scenario = name.to_string();
    r.duration_s = started.elapsed().as_secs_f64();
    r.acked = stats.acked.load(Ordering::Relaxed);
    r.ack_errors = stats.ack_errors.load(Ordering::Relaxed);
    r.delivered = stats.delivered.load(Ordering::Relaxed);
    r.ack_latency = rec.ack.summary();
    r.delivery_latency = rec.delivery.summary();
    r
}

/// `connect`: ramp `n` connections at `rate`/s; time-to-N and handshakes.
pub async fn connect(target: &Target, n: usize, rate: f64, progress: bool) -> Report {
    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    let (clients, handshake, failed) = ramp(target, n, rate, &stats, started, progress).await;
    let time_to_n = started.elapsed().as_secs_f64();
    let report = Report {
        connections: clients.len() as u64,
        connect_errors: failed,
        handshake: handshake.summary(),
        ..Default::default()
    };
    let rec = close_all(clients).await;
    let mut r = finish("connect", started, &stats, &rec, report);
    r.duration_s = time_to_n;
    r
}

/// `idle`: hold `n` connections for `hold`; dropped ones are counted.
pub async fn idle(target: &Target, n: usize, rate: f64, hold: Duration, progress: bool) -> Report {
    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    let (clients, handshake, failed) = ramp(target, n, rate, &stats, started, progress).await;
    if progress {
        eprintln!("holding {} connections for {hold:?}", clients.len());
    }
    tokio::time::sleep(hold).await;
    let dropped = stats.disconnects.load(Ordering::Relaxed);
    let report = Report {
        connections: clients.len() as u64,
        connect_errors: failed,
        disconnects: dropped,
        handshake: handshake.summary(),
        ..Default::default()
    };
    let rec = close_all(clients).await;
    finish("idle", started, &stats, &rec, report)
}

/// Publishing loop of one sender on its schedule until `end`.
async fn publish(
    mut c: Client,
    chat: String,
    sched: Schedule,
    base: Instant,
    end: Instant,
    sent: Arc<AtomicU64>,
) -> Client {
    let mut i = 0;
    loop {
        let due = sched.due(i);
        if due >= end {
            return c;
        }
        tokio::time::sleep_until(due).await;
        c.send_timed(
            "message:new",
            // A clientId on every message, as real clients send (the
            // server then also records it for idempotent retries).
            &json!({ "chatId": chat, "content": stamp(base, due), "clientId": format!("lt-{i}") }),
            due,
        );
        sent.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
}

fn progress_line(stats: Arc<Stats>, sent: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            eprint!(
                "\rsent {} acked {} delivered {}   ",
                sent.load(Ordering::Relaxed),
                stats.acked.load(Ordering::Relaxed),
                stats.delivered.load(Ordering::Relaxed)
            );
        }
    })
}

/// How long to wait for late acks and deliveries after the last send.
const GRACE: Duration = Duration::from_secs(3);

/// The sending phase shared by `fanout` and `direct`.
pub(crate) struct Publish {
    /// Messages per second, over all senders.
    pub rate: f64,
    pub duration: Duration,
    /// How many members receive each message.
    pub recipients: u64,
    pub progress: bool,
}

impl Publish {
    /// Runs every sender on its share of the schedule until `duration`
    /// ends, waits up to [`GRACE`] for late acks and deliveries, and fills
    /// the sending half of `report`. Returns the senders.
    pub(crate) async fn run(
        &self,
        senders: Vec<(Client, String)>,
        stats: &Arc<Stats>,
        base: Instant,
        report: &mut Report,
    ) -> Vec<Client> {
        let sent = Arc::new(AtomicU64::new(0));
        let ticker = self
            .progress
            .then(|| progress_line(stats.clone(), sent.clone()));
        let started = Instant::now();
        let end = started + self.duration;
        let plans = schedule::split(started, self.rate, senders.len().max(1));
        let tasks: Vec<_> = senders
            .into_iter()
            .zip(plans)
            .map(|((c, chat), plan)| tokio::spawn(publish(c, chat, plan, base, end, sent.clone())))
            .collect();
        let mut clients = Vec::new();
        for t in tasks {
            if let Ok(c) = t.await {
                clients.push(c);
            }
        }
        let sent_n = sent.load(Ordering::Relaxed);
        let expected = sent_n * self.recipients;
        let deadline = Instant::now() + GRACE;
        let answered =
            || stats.acked.load(Ordering::Relaxed) + stats.ack_errors.load(Ordering::Relaxed);
        while Instant::now() < deadline
            && (stats.delivered.load(Ordering::Relaxed) < expected || answered() < sent_n)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let active = started.elapsed().max(self.duration).as_secs_f64();
        if let Some(t) = ticker {
            t.abort();
            eprintln!();
        }
        report.sent = sent_n;
        report.expected_deliveries = expected;
        report.sent_per_s = sent_n as f64 / self.duration.as_secs_f64();
        report.delivered_per_s = stats.delivered.load(Ordering::Relaxed) as f64 / active;
        clients
    }
}

/// Most user ids the server accepts in one request (`SB_MAX_IDS_PER_REQUEST`).
const IDS_PER_REQUEST: usize = 100;

/// Creates a group chat with `others`, in batches the server accepts. The
/// members' sockets have joined the chat's room when each ack arrives.
async fn setup_chat(sender: &mut Client, others: &[String]) -> anyhow::Result<String> {
    let first = others.len().min(IDS_PER_REQUEST - 1);
    let created = sender
        .request(
            "chat:create",
            &json!({"kind": "group", "members": &others[..first]}),
        )
        .await?;
    let id = created["chat"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for batch in others[first..].chunks(IDS_PER_REQUEST) {
        sender
            .request("chat:add-members", &json!({"chatId": id, "userIds": batch}))
            .await?;
    }
    Ok(id)
}

/// `fanout`: `rooms` chats of `members`, `rate` publishes/s in total (one
/// sender per chat); deliveries/s and publish→delivery latency.
pub async fn fanout(
    target: &Target,
    rooms: usize,
    members: usize,
    rate: f64,
    duration: Duration,
    connect_rate: f64,
    progress: bool,
) -> Report {
    let stats = Arc::new(Stats::default());
    let base = Instant::now();
    let (mut clients, handshake, failed) = ramp(
        target,
        rooms * members,
        connect_rate,
        &stats,
        base,
        progress,
    )
    .await;
    let mut report = Report {
        connections: clients.len() as u64,
        connect_errors: failed,
        handshake: handshake.summary(),
        ..Default::default()
    };
    if failed > 0 || members < 2 {
        return finish("fanout", base, &stats, &close_all(clients).await, report);
    }
    // Chat r: clients r*members .. (r+1)*members; the first one sends.
    let mut senders = Vec::new();
    let mut chats = Vec::new();
    for r in (0..rooms).rev() {
        let group: Vec<Client> = clients.drain(r * members..(r + 1) * members).collect();
        let mut it = group.into_iter();
        let mut sender = it.next().expect("members >= 2");
        let others: Vec<String> = it.as_slice().iter().map(|c| c.user.clone()).collect();
        let chat = match setup_chat(&mut sender, &others).await {
            Ok(id) => id,
            Err(e) => {
                eprintln!("chat set-up failed: {e:#}");
                report.connect_errors += 1;
                String::new()
            }
        };
        clients.extend(it);
        senders.push(sender);
        chats.push(chat);
    }
    let senders = senders.into_iter().zip(chats).collect();
    let recipients = members as u64 - 1;
    let publish = Publish {
        rate,
        duration,
        recipients,
        progress,
    };
    clients.extend(publish.run(senders, &stats, base, &mut report).await);
    let rec = close_all(clients).await;
    let mut r = finish("fanout", base, &stats, &rec, report);
    r.duration_s = duration.as_secs_f64();
    r
}

/// `direct`: `pairs` direct chats; both sides send acked messages, `rate`
/// per second in total; ack and delivery latency.
pub async fn direct(
    target: &Target,
    pairs: usize,
    rate: f64,
    duration: Duration,
    connect_rate: f64,
    progress: bool,
) -> Report {
    let stats = Arc::new(Stats::default());
    let base = Instant::now();
    let (mut clients, handshake, failed) =
        ramp(target, pairs * 2, connect_rate, &stats, base, progress).await;
    let mut report = Report {
        connections: clients.len() as u64,
        connect_errors: failed,
        handshake: handshake.summary(),
        ..Default::default()
    };
    if failed > 0 {
        return finish("direct", base, &stats, &close_all(clients).await, report);
    }
    let mut chats = Vec::with_capacity(pairs * 2);
    for p in 0..pairs {
        let peer = clients[2 * p + 1].user.clone();
        let chat = match clients[2 * p]
            .request("chat:create", &json!({"kind": "direct", "members": [peer]}))
            .await
        {
            Ok(v) => v["chat"]["id"].as_str().unwrap_or_default().to_string(),
            Err(e) => {
                eprintln!("chat:create failed: {e:#}");
                report.connect_errors += 1;
                String::new()
            }
        };
        chats.push(chat.clone());
        chats.push(chat);
    }
    let senders = clients.into_iter().zip(chats).collect();
    let publish = Publish {
        rate,
        duration,
        recipients: 1,
        progress,
    };
    let clients = publish.run(senders, &stats, base, &mut report).await;
    let rec = close_all(clients).await;
    let mut r = finish("direct", base, &stats, &rec, report);
    r.duration_s = duration.as_secs_f64();
    r
}

/// `churn`: `concurrency` loops of connect → `connected` → disconnect for
/// `duration`; cycles and handshake latency.
pub async fn churn(target: &Target, concurrency: usize, duration: Duration) -> Report {
    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    let end = started + duration;
    let loops: Vec<_> = (0..concurrency)
        .map(|k| {
            let (target, stats) = (target.clone(), stats.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed, mut hs) = (0u64, 0u64, Recorder::default());
                let mut i = k;
                while Instant::now() < end {
                    match Client::connect(&target, i, stats.clone(), started).await {
                        Ok((c, took)) => {
                            hs.record(took);
                            ok += 1;
                            c.close().await;
                        }
                        Err(_) => failed += 1,
                    }
                    i += concurrency;
                }
                (ok, failed, hs)
            })
        })
        .collect();
    let mut report = Report::default();
    let mut hs = Recorder::default();
    for l in loops {
        if let Ok((ok, failed, h)) = l.await {
            report.cycles += ok;
            report.connect_errors += failed;
            hs.merge(&h);
        }
    }
    report.connections = report.cycles;
    report.handshake = hs.summary();
    let mut r = finish("churn", started, &stats, &Recorders::default(), report);
    r.disconnects = 0;
    r
}
