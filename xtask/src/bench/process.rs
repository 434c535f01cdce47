//! The release `api` binary in a process of its own, so that its memory is its own to measure.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running server, stopped when dropped. Both rate limits are off: a benchmark's clients
/// stand for many clients on many addresses.
pub struct Server {
    child: Child,
    pub base: String,
    /// Where its Prometheus metrics are served.
    metrics: String,
}

impl Server {
    pub fn start(api: &Path, database_url: &str) -> anyhow::Result<Self> {
        let address = free_address()?;
        let metrics = free_address()?;
        let child = Command::new(api)
            .args(["--database-url", database_url, "--http-address", &address])
            .args(["--login-rate-limit", "0", "--api-rate-limit", "0"])
            .args(["--prometheus-enable", "--prometheus-address", &metrics])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start the api binary")?;
        let server = Self { child, base: format!("http://{address}"), metrics: format!("http://{metrics}/metrics") };
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::blocking::get(format!("{}/healthz", server.base)).map_or(true, |r| r.status() != 200) {
            if Instant::now() > deadline {
                bail!("the server did not come up");
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    /// The value of an unlabelled metric (a counter or a gauge) now; 0 if it is not served.
    pub fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let text = reqwest::blocking::get(&self.metrics)?.error_for_status()?.text()?;
        Ok(text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `VmRSS` (resident now) or `VmHWM` (the most resident since start or the last
    /// [`Self::reset_peak`]), in MiB.
    pub fn memory(&self, field: &str) -> f64 {
        memory(self.child.id(), field)
    }

    /// Starts `VmHWM` over from the current resident size (Linux's `clear_refs` 5), so a
    /// peak can be told per scenario.
    pub fn reset_peak(&self) -> anyhow::Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").context("cannot reset the peak")
    }
}

/// A loopback address no one listens on now.
fn free_address() -> anyhow::Result<String> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.to_string())
}

/// A field of `/proc/<pid>/status` given in kB, in MiB.
pub fn memory(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?.trim_start_matches(':').trim().strip_suffix("kB")?.trim().parse().ok()
        })
        .unwrap_or(0.0);
    kib / 1024.0
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
