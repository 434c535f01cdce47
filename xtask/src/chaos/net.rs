//! Ports for servers that are restarted on the same address.

use std::net::TcpListener;

use anyhow::bail;

/// A free port below the kernel's ephemeral range. A port from that range could be taken,
/// while its server is down, as the source port of some outgoing connection (ours
/// reconnecting, for one), and the restart would then fail to bind it.
pub fn free_port() -> anyhow::Result<u16> {
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next().and_then(|low| low.parse::<u16>().ok()))
        .unwrap_or(32_768);
    let (low, high) = (10_000u16, ephemeral_start.max(10_100));
    for _ in 0..200 {
        let draw = u16::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..2].try_into().unwrap_or([0, 0]));
        let port = low + draw % (high - low);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free port between {low} and {high}")
}
