//! What must be undone however the run ends: server processes, the private PostgreSQL
//! cluster, throw-away databases. Each owner undoes its own on `Drop` (normal end, error,
//! panic); a signal (Ctrl-C, a CI timeout's SIGTERM) reaches a dedicated thread that undoes
//! everything still registered, then exits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// One thing to undo.
#[derive(Debug, Clone)]
pub enum Undo {
    /// SIGKILL a process we started (and have not reaped yet).
    Kill(u32),
    /// `pg_ctl stop -m immediate`, then remove the cluster's directory.
    Cluster { pg_ctl: PathBuf, data: PathBuf, dir: PathBuf, as_postgres: bool },
    /// `DROP DATABASE ... WITH (FORCE)` on a shared server.
    Database { admin_url: String, name: String },
}

impl Undo {
    fn run(&self) {
        match self {
            Undo::Kill(pid) => {
                if let Ok(pid) = libc::pid_t::try_from(*pid) {
                    // SAFETY: kill(2) with a pid we spawned and have not reaped (so it was not reused).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
            Undo::Cluster { pg_ctl, data, dir, as_postgres } => {
                let data = data.display().to_string();
                let mut stop = super::db::postgres_tool(pg_ctl, *as_postgres);
                stop.args(["-D", &data, "-m", "immediate", "-w", "-t", "30", "stop"]);
                let _ = stop.stdout(Stdio::null()).stderr(Stdio::null()).status();
                let _ = std::fs::remove_dir_all(dir);
            }
            Undo::Database { admin_url, name } => super::db::drop_database(admin_url, name),
        }
    }
}

static NEXT: AtomicU64 = AtomicU64::new(1);
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static PENDING: Mutex<BTreeMap<u64, Undo>> = Mutex::new(BTreeMap::new());

fn pending() -> MutexGuard<'static, BTreeMap<u64, Undo>> {
    PENDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Undoes its action when dropped, unless disarmed first.
#[derive(Debug)]
pub struct Guard(u64);

impl Guard {
    pub fn new(undo: Undo) -> Self {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        pending().insert(id, undo);
        Self(id)
    }

    /// The owner undid it itself (e.g. reaped the process): forget it.
    pub fn disarm(self) {
        pending().remove(&self.0);
        std::mem::forget(self);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let undo = pending().remove(&self.0);
        if let Some(undo) = undo {
            undo.run();
        }
    }
}

/// Routes SIGINT, SIGTERM and SIGHUP to a thread that cleans up and exits. Call before any
/// other thread starts, so that every thread inherits the blocked mask. Child processes
/// inherit it too: start them with `detached`, which unblocks.
pub fn install_signal_thread() -> anyhow::Result<()> {
    // SAFETY: plain libc calls on a local, initialised signal set.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            anyhow::bail!("cannot block signals");
        }
        set
    };
    std::thread::Builder::new().name("chaos-signals".into()).spawn(move || {
        let mut signal: libc::c_int = 0;
        // SAFETY: waits on the set blocked above; writes only `signal`.
        if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
            return;
        }
        INTERRUPTED.store(true, Ordering::SeqCst);
        eprintln!("\nchaos: signal {signal}: stopping servers and clusters, removing databases");
        let all: Vec<Undo> = std::mem::take(&mut *pending()).into_values().collect();
        // Processes first, so that nothing holds the databases being dropped.
        let (kills, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|undo| matches!(undo, Undo::Kill(_)));
        kills.iter().chain(rest.iter()).for_each(Undo::run);
        std::process::exit(128 + signal);
    })?;
    Ok(())
}

/// After a signal, what the scenarios see (their servers dying under them) is not a verdict:
/// wait here for the clean-up thread to end the process.
pub fn hold_if_interrupted() {
    while INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::park();
    }
}

/// `Command` for a child that gets the signals this process blocks for its own handling.
pub fn unblocked(program: impl AsRef<std::ffi::OsStr>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(program);
    // SAFETY: runs in the child between fork and exec, and only calls sigemptyset and
    // pthread_sigmask, which are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            if libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

/// Also out of the terminal's process group: Ctrl-C does not reach it, the harness stops it,
/// in order.
pub fn detached(program: impl AsRef<std::ffi::OsStr>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = unblocked(program);
    command.process_group(0);
    command
}
