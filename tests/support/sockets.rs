//! Which sockets a process holds, read from /proc (R1: the host listens on
//! nothing), and a QUIC probe of a UDP port.

use std::collections::HashSet;
use std::time::Duration;

#[derive(Debug)]
pub struct Socket {
    pub port: u16,
    pub udp: bool,
    pub tcp_listening: bool,
}

/// The TCP and UDP sockets of process `pid` (IPv4 and IPv6).
pub fn of_process(pid: u32) -> Vec<Socket> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_owned())
        })
        .collect();
    let mut sockets = Vec::new();
    for (table, udp) in [
        ("tcp", false),
        ("tcp6", false),
        ("udp", true),
        ("udp6", true),
    ] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || !inodes.contains(fields[9]) {
                continue;
            }
            let port = u16::from_str_radix(fields[1].rsplit(':').next().unwrap(), 16).unwrap();
            sockets.push(Socket {
                port,
                udp,
                tcp_listening: !udp && fields[3] == "0A",
            });
        }
    }
    sockets
}

/// Whether anything on 127.0.0.1:`port` completes a QUIC handshake.
pub async fn quic_handshake_answered(port: u16) -> bool {
    let endpoint = assent_net::client_endpoint("127.0.0.1:0".parse().unwrap()).unwrap();
    // Any pin: a server would answer the handshake (and fail the pin), a
    // client endpoint never answers at all.
    let pin: assent_net::CertFingerprint = "00".repeat(32).parse().unwrap();
    let config = assent_net::client_config(assent_net::RelayTrust::Pinned(pin)).unwrap();
    let relay = format!("127.0.0.1:{port}").parse().unwrap();
    let outcome = assent_net::connect_within(
        &endpoint,
        relay,
        "localhost",
        config,
        Duration::from_secs(3),
    )
    .await;
    !matches!(outcome, Err(assent_net::NetError::ConnectTimeout { .. }))
}
