//! A closed-loop HTTP/1.1 load generator on raw keep-alive TCP connections: each connection
//! sends its next request as soon as the previous answer has fully arrived. It runs on one
//! thread of its own, and parses no more of an answer than it must (status, length), so that
//! it takes as little as possible of the CPU the servers share with it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one measured period gave.
pub struct Outcome {
    /// Latency of each answer that arrived within the period.
    pub latencies: Vec<Duration>,
    pub period: Duration,
    /// CPU time the generator's thread used within the period, if the OS tells.
    pub client_cpu: Option<Duration>,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.period.as_secs_f64().max(f64::EPSILON)
    }
}

/// Runs `connections` closed loops of `request` against `address`: `warm_up` first, not
/// counted, then `period`, counted.
pub fn measure(
    address: SocketAddr,
    request: &[u8],
    connections: usize,
    warm_up: Duration,
    period: Duration,
) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let request: Arc<[u8]> = Arc::from(request);
    runtime.block_on(async move {
        let mut streams = Vec::with_capacity(connections);
        for _ in 0..connections {
            streams.push(connect(address).await?);
        }
        let counted_from = Instant::now() + warm_up;
        let until = counted_from + period;
        let cpu = tokio::spawn(async move {
            tokio::time::sleep_until(counted_from.into()).await;
            let before = thread_cpu();
            tokio::time::sleep_until(until.into()).await;
            Some(thread_cpu()?.saturating_sub(before?))
        });
        let loops: Vec<_> = streams
            .into_iter()
            .map(|stream| tokio::spawn(closed_loop(stream, Arc::clone(&request), counted_from, until)))
            .collect();
        let mut latencies = Vec::new();
        for one in loops {
            latencies.extend(one.await??);
        }
        Ok(Outcome { latencies, period, client_cpu: cpu.await? })
    })
}

/// One connection's requests, one after the other; the latencies of those answered within
/// `[counted_from, until]`.
async fn closed_loop(
    mut stream: TcpStream,
    request: Arc<[u8]>,
    counted_from: Instant,
    until: Instant,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::new();
    let mut buffer = Vec::with_capacity(8192);
    loop {
        let sent = Instant::now();
        let status = exchange(&mut stream, &request, &mut buffer).await?;
        let answered = Instant::now();
        if status != 200 {
            bail!("the server answered {status}: {}", String::from_utf8_lossy(&buffer));
        }
        if answered >= counted_from && answered <= until {
            latencies.push(answered - sent);
        }
        if answered >= until {
            return Ok(latencies);
        }
    }
}

/// One request on a connection of its own: the status and the body, to check the route.
pub fn fetch_once(address: SocketAddr, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut buffer = Vec::new();
        let status = exchange(&mut connect(address).await?, request, &mut buffer).await?;
        Ok((status, buffer))
    })
}

/// A keep-alive connection that sends each request at once.
pub(crate) async fn connect(address: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(address).await.with_context(|| format!("cannot connect to {address}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends one request and reads its whole response: the status, and the body in `buffer`.
pub(crate) async fn exchange(stream: &mut TcpStream, request: &[u8], buffer: &mut Vec<u8>) -> anyhow::Result<u16> {
    stream.write_all(request).await?;
    read_response(stream, buffer).await
}

/// Reads one whole response; returns its status and leaves its body in `buffer`. Only a
/// `Content-Length` body is understood: a chunked one is an error, not a guess.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<u16> {
    buffer.clear();
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        fill(stream, buffer).await?;
    };
    let head = std::str::from_utf8(&buffer[..head_end]).context("the response head is not text")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP status line: {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse::<usize>().context("a bad Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("the server answered with Transfer-Encoding: {}; only Content-Length is read", value.trim());
        }
    }
    // A 204 has no body, and so no length.
    let length = if status == 204 {
        0
    } else {
        length.with_context(|| format!("a {status} response without Content-Length"))?
    };
    let end = head_end + 4 + length;
    while buffer.len() < end {
        fill(stream, buffer).await?;
    }
    if buffer.len() > end {
        // One request is in flight at a time: nothing may follow the answer.
        bail!("{} bytes arrived after the response", buffer.len() - end);
    }
    buffer.drain(..head_end + 4);
    Ok(status)
}

async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> anyhow::Result<()> {
    buffer.reserve(4096);
    if stream.read_buf(buffer).await? == 0 {
        bail!("the server closed the connection");
    }
    Ok(())
}

/// CPU time (user and system) of the calling thread, from `/proc/thread-self/stat`, in the
/// kernel's clock ticks of 1/100 s.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The fields after the command name, which may hold spaces: state is the first, utime the 12th.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((user + system) * 10))
}
