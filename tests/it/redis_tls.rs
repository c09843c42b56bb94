//! `rediss://` with a private CA and a client certificate, against a real
//! `redis-server` that requires both and a password; the password never
//! reaches the logs, whether the connection works or not.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use switchboard::testing::RedisServer;

use crate::common::app::{unique, TestNode};
use crate::common::process::Process;
use crate::common::{ok, pair_across, T};

const PASSWORD: &str = "pw-Z3n0-never-in-logs";

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as
/// PEM files in `dir`.
fn write_certs(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "switchboard test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf = |name: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.signed_by(&key, &ca_cert, &ca_key).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server, server_key) = leaf("redis");
    let (client, client_key) = leaf("switchboard");
    for (f, pem) in [
        ("ca.pem", ca_cert.pem()),
        ("server.pem", server),
        ("server.key", server_key),
        ("client.pem", client),
        ("client.key", client_key),
    ] {
        std::fs::write(dir.join(f), pem).unwrap();
    }
}

#[tokio::test]
async fn a_node_uses_redis_over_tls_with_a_client_certificate() {
    let dir = std::env::temp_dir().join(unique("sb-tls"));
    write_certs(&dir);
    let (_redis, tls_port) = RedisServer::start_tls(&dir, PASSWORD);
    let url = format!("rediss://:{PASSWORD}@127.0.0.1:{tls_port}");
    let file = |f: &str| dir.join(f).display().to_string();
    let (ca, cert, key) = (file("ca.pem"), file("client.pem"), file("client.key"));
    let prefix = format!("{}:", unique("tls"));
    let node = Process::start(&[
        ("SB_REDIS_URL", &url),
        ("SB_REDIS_PREFIX", &prefix),
        ("SB_REDIS_TLS_CA_FILE", &ca),
        ("SB_REDIS_TLS_CERT_FILE", &cert),
        ("SB_REDIS_TLS_KEY_FILE", &key),
        ("SB_LOG", "debug"),
    ]);
    node.wait_for("/ready", 200, Duration::from_secs(20)).await;
    let client = TestNode::external(node.url.clone());
    let (mut alice, mut bob, chat) = pair_across(&client, &client).await;
    ok(
        &mut alice,
        "message:new",
        json!({"chatId": chat, "content": "over TLS", "clientId": "t1"}),
    )
    .await;
    let got = bob.wait_for("message:new", T).await;
    assert_eq!(got["message"]["content"], "over TLS");
    drop((alice, bob));

    // Without the client certificate Redis refuses the handshake: the node
    // says Redis is unreachable, stays unready, and never logs the password.
    let refused = Process::start(&[
        ("SB_REDIS_URL", &url),
        ("SB_REDIS_PREFIX", &prefix),
        ("SB_REDIS_TLS_CA_FILE", &ca),
        ("SB_LOG", "debug"),
    ]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(refused.get("/ready").await.map(|r| r.0), Some(503));
    let refused_lines = refused.stop();
    assert!(
        refused_lines
            .iter()
            .any(|l| l.contains("Redis is unreachable")),
        "{refused_lines:#?}"
    );
    let lines = node.stop();
    for line in lines.iter().chain(&refused_lines) {
        assert!(!line.contains(PASSWORD), "the password was logged: {line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
