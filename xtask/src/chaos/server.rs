//! The server under test: the release `api` binary as a child process, started, killed and
//! restarted on the same database and port.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::cleanup::{Guard, Undo, detached, unblocked};
use super::net::free_port;

/// The release binary under test.
pub struct ApiBinary {
    pub path: PathBuf,
}

impl ApiBinary {
    /// `explicit`, or the workspace's release build (built now: cargo skips it when fresh).
    pub fn locate(explicit: Option<PathBuf>) -> anyhow::Result<Self> {
        let path = match explicit {
            Some(path) => path,
            None => build_release()?,
        };
        if !path.is_file() {
            bail!("no server binary at {}", path.display());
        }
        Ok(Self { path })
    }
}

fn build_release() -> anyhow::Result<PathBuf> {
    eprintln!("chaos: building the server under test: cargo build --release -p api --bin api");
    crate::release::build_api_with(unblocked(crate::release::cargo()))
}

/// Where clients send requests to one server: the address changes only if a restart finds
/// the port taken.
#[derive(Debug)]
pub struct Endpoint {
    pub label: String,
    base: RwLock<String>,
}

impl Endpoint {
    pub fn base(&self) -> String {
        self.base.read().map(|b| b.clone()).unwrap_or_default()
    }

    pub fn address(&self) -> String {
        self.base().trim_start_matches("http://").to_owned()
    }

    fn set(&self, base: String) {
        if let Ok(mut current) = self.base.write() {
            *current = base;
        }
    }
}

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// `VmRSS`, bytes.
    pub resident: u64,
    /// `VmHWM`: the peak of `VmRSS` since the process started, bytes.
    pub peak: u64,
}

pub fn memory_of(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some(Memory { resident: field("VmRSS:")?, peak: field("VmHWM:")? })
}

pub fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// One `api serve` process (and its successors after a kill).
pub struct ApiServer {
    binary: PathBuf,
    database_url: String,
    flags: Vec<String>,
    log: PathBuf,
    port: u16,
    endpoint: Arc<Endpoint>,
    child: Option<(Child, Guard)>,
    launches: u32,
}

/// How long a start may take: migrations run first, and the machine is shared.
const START_LIMIT: Duration = Duration::from_secs(60);

impl ApiServer {
    /// Starts it and waits until it answers `/healthz`.
    pub fn start(
        binary: &ApiBinary,
        label: &str,
        database_url: &str,
        flags: &[String],
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut server = Self::spawn(binary, label, database_url, flags, log_dir)?;
        server.wait_ready()?;
        Ok(server)
    }

    /// Starts it without waiting (several replicas then start at once).
    pub fn spawn(
        binary: &ApiBinary,
        label: &str,
        database_url: &str,
        flags: &[String],
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(log_dir)?;
        let port = free_port()?;
        let mut server = Self {
            binary: binary.path.clone(),
            database_url: database_url.to_owned(),
            flags: flags.to_vec(),
            log: log_dir.join(format!("{label}.log")),
            port,
            endpoint: Arc::new(Endpoint {
                label: label.to_owned(),
                base: RwLock::new(format!("http://127.0.0.1:{port}")),
            }),
            child: None,
            launches: 0,
        };
        server.launch()?;
        Ok(server)
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        self.launches += 1;
        let mut log = OpenOptions::new().create(true).append(true).open(&self.log)?;
        writeln!(log, "===== chaos: launch {} on port {}", self.launches, self.port)?;
        let mut command = detached(&self.binary);
        // Only what we pass: settings in our own environment must not leak into the test.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("API_") || name == "DATABASE_URL" || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        command
            .arg("serve")
            .args(["--http-address", &format!("127.0.0.1:{}", self.port)])
            .args(["--database-url", &self.database_url])
            .args(&self.flags)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = command.spawn().with_context(|| format!("cannot start {}", self.binary.display()))?;
        let guard = Guard::new(Undo::Kill(child.id()));
        self.child = Some((child, guard));
        self.endpoint.set(format!("http://127.0.0.1:{}", self.port));
        Ok(())
    }

    /// Waits for `/healthz`; a start that lost its port to someone else moves to another.
    pub fn wait_ready(&mut self) -> anyhow::Result<()> {
        let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let deadline = Instant::now() + START_LIMIT;
        let mut moves = 0;
        loop {
            if let Some((child, _)) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.reap();
                let tail = self.log_tail(5);
                if moves < 3 && tail.contains("in use") {
                    moves += 1;
                    self.port = free_port()?;
                    self.launch()?;
                    continue;
                }
                bail!("{} exited ({status}) while starting: {tail}", self.endpoint.label);
            }
            let healthy = client
                .get(format!("{}/healthz", self.endpoint.base()))
                .send()
                .is_ok_and(|response| response.status().is_success());
            if healthy {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not answer /healthz within {START_LIMIT:?}: {}", self.endpoint.label, self.log_tail(5));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`: no chance to finish anything.
    pub fn kill9(&mut self) {
        if let Some((child, _)) = self.child.as_mut() {
            let _ = child.kill();
        }
        self.reap();
    }

    fn reap(&mut self) {
        if let Some((mut child, guard)) = self.child.take() {
            let _ = child.wait();
            guard.disarm();
        }
    }

    /// Starts it again on the same database (and port), waiting until it answers.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.reap();
        self.launch()?;
        self.wait_ready()
    }

    /// SIGTERM, as an operator would; SIGKILL if it has not exited after 15 s.
    pub fn stop(&mut self) {
        if let Some((child, _)) = self.child.as_mut()
            && let Ok(pid) = libc::pid_t::try_from(child.id())
        {
            // SAFETY: kill(2) on our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill9();
    }

    pub fn endpoint(&self) -> Arc<Endpoint> {
        Arc::clone(&self.endpoint)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|(child, _)| child.id())
    }

    pub fn memory(&self) -> Option<Memory> {
        memory_of(self.pid()?)
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines the server wrote, on one line.
    pub fn log_tail(&self, lines: usize) -> String {
        let Ok(file) = File::open(&self.log) else { return String::new() };
        let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        all[all.len().saturating_sub(lines)..].join(" | ")
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// `/healthz` every half second while a load runs: the slowest answer and the failures.
pub struct HealthWatch {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Duration, usize)>,
}

impl HealthWatch {
    pub fn start(base: &str) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let (base, flag) = (base.to_owned(), done.clone());
        let thread = std::thread::spawn(move || {
            let Ok(client) = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build() else {
                return (Duration::ZERO, 0);
            };
            let (mut slowest, mut failures) = (Duration::ZERO, 0);
            while !flag.load(Ordering::SeqCst) {
                let sent = Instant::now();
                let ok = client.get(format!("{base}/healthz")).send().is_ok_and(|r| r.status().is_success());
                slowest = slowest.max(sent.elapsed());
                failures += usize::from(!ok);
                std::thread::sleep(Duration::from_millis(500));
            }
            (slowest, failures)
        });
        Self { done, thread }
    }

    pub fn finish(self) -> (Duration, usize) {
        self.done.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_default()
    }
}
