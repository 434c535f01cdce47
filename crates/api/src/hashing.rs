//! Password hashing with a bound. One argon2 check takes a core and about 19 MiB for tens
//! of milliseconds, and signing in needs no account: unbounded, a flood of wrong passwords
//! takes every core and gigabytes of memory from the rest of the server. So checks run on
//! threads of their own, one per core, each reusing one block of argon2 memory (freed and
//! reallocated on whatever thread was free, that memory stayed behind in the allocator's
//! per-thread arenas: a gigabyte under a flood). The others wait their turn without holding
//! a thread (and before any other work: see [`Turn`]), and give up with a 503 when the wait
//! is too long or too many already wait. The
//! hashing threads run at a lower CPU priority, so that on a busy machine the other
//! requests go first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use actix_web::http::StatusCode;
use domain::user::Password;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::error::ApiError;
use crate::secrets::{self, HashMemory};

/// Work for a hashing thread, in that thread's memory.
type Job = Box<dyn FnOnce(&mut HashMemory) + Send>;

/// How long a check may wait for its turn before the caller is told to come back.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5);
/// Waiting checks per running one, beyond which new ones are refused at once.
const QUEUE_PER_SLOT: usize = 128;

const BUSY: &str = "Too many passwords are being checked right now. Please try again shortly.";

pub struct PasswordHasher {
    /// To the hashing threads; they end when it is dropped.
    jobs: mpsc::Sender<Job>,
    slots: Arc<Semaphore>,
    max_queued: usize,
    queued: AtomicUsize,
    max_wait: Duration,
    /// A hash of a password nobody knows, checked when an e-mail is unknown so that an
    /// unknown e-mail costs the same time as a wrong password.
    decoy: String,
}

impl PasswordHasher {
    /// `concurrency` checks at once (at least one), on as many threads.
    pub fn new(concurrency: usize, max_wait: Duration) -> std::io::Result<Self> {
        let concurrency = concurrency.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..concurrency {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new().name(format!("passwords-{n}")).spawn(move || {
                yield_to_other_work();
                let mut memory = HashMemory::default();
                loop {
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(&mut memory),
                        Err(_) => return,
                    }
                }
            })?;
        }
        Ok(Self {
            jobs,
            slots: Arc::new(Semaphore::new(concurrency)),
            max_queued: concurrency * QUEUE_PER_SLOT,
            queued: AtomicUsize::new(0),
            max_wait,
            decoy: secrets::decoy_hash(),
        })
    }

    /// One check per CPU core.
    pub fn per_core() -> std::io::Result<Self> {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from), DEFAULT_MAX_WAIT)
    }

    /// A new argon2id hash of `password`, at the next turn.
    pub async fn hash(&self, password: Password) -> Result<String, ApiError> {
        self.turn().await?.hash(password).await
    }

    /// [`Turn::verify`], at the next turn.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        self.turn().await?.verify(password, stored).await
    }

    /// Waits for a hashing thread to be free: 503 when the wait would be too long.
    pub async fn turn(&self) -> Result<Turn<'_>, ApiError> {
        let busy = || ApiError::new(StatusCode::SERVICE_UNAVAILABLE, BUSY).retry_after(1);
        if self.queued.fetch_add(1, Ordering::Relaxed) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(busy());
        }
        let slot = tokio::time::timeout(self.max_wait, Arc::clone(&self.slots).acquire_owned()).await;
        self.queued.fetch_sub(1, Ordering::Relaxed);
        match slot {
            Ok(Ok(slot)) => Ok(Turn { hasher: self, _slot: slot }),
            _ => Err(busy()),
        }
    }
}

/// A hashing thread, free for one check. A sign-in takes its turn before anything else,
/// its database lookup included, so that a flood of sign-ins queues here and touches
/// nothing else: one lookup per hashing thread at a time, and none for those that give up.
pub struct Turn<'a> {
    hasher: &'a PasswordHasher,
    _slot: OwnedSemaphorePermit,
}

impl Turn<'_> {
    pub async fn hash(self, password: Password) -> Result<String, ApiError> {
        let hashed = self.run(move |memory| secrets::hash_password_in(memory, &password)).await?;
        hashed.map_err(|error| ApiError::internal(&error))
    }

    /// Whether `password` matches `stored`; with no stored hash, the same work against the
    /// decoy, and `false`.
    pub async fn verify(self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.hasher.decoy.clone());
        let matches = self.run(move |memory| secrets::verify_password_in(memory, &password, &hash)).await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        // Holding a slot, a thread is free: the job starts at once. The slot is given back
        // when the turn ends, after the result arrived.
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = done.send(work(memory));
        });
        let gone = || ApiError::internal(&std::io::Error::other("the password hashing threads have stopped"));
        self.hasher.jobs.send(job).map_err(|_| gone())?;
        result.await.map_err(|_| gone())
    }
}

/// Lowers the calling thread's CPU priority (nice 10). An idle machine still gives hashing
/// whole cores; a busy one runs every other request first, so a flood of sign-ins slows
/// sign-ins, not the rest.
fn yield_to_other_work() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread; no memory is shared. On Linux a
        // nice value belongs to a thread, named by its id.
        let changed = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
        if changed != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "password hashing keeps the normal priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn hasher(concurrency: usize, max_wait: Duration) -> PasswordHasher {
        PasswordHasher::new(concurrency, max_wait).unwrap_or_else(|e| panic!("{e}"))
    }

    #[actix_web::test]
    async fn no_more_checks_run_at_once_than_there_are_slots() {
        let hasher = Arc::new(hasher(2, Duration::from_secs(30)));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (hasher, running, most) = (Arc::clone(&hasher), Arc::clone(&running), Arc::clone(&most));
                actix_web::rt::spawn(async move {
                    let turn = hasher.turn().await?;
                    turn.run(move |_| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            assert!(matches!(task.await, Ok(Ok(()))));
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[actix_web::test]
    async fn a_check_that_waits_too_long_is_refused_with_503() {
        let hasher = Arc::new(hasher(1, Duration::from_millis(50)));
        let slow = Arc::clone(&hasher);
        let first = actix_web::rt::spawn(async move {
            slow.turn().await?.run(|_| std::thread::sleep(Duration::from_millis(500))).await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let refused = hasher.turn().await.err().map(|e| actix_web::ResponseError::status_code(&e));
        assert_eq!(refused, Some(StatusCode::SERVICE_UNAVAILABLE));
        assert!(matches!(first.await, Ok(Ok(()))));
    }

    #[actix_web::test]
    async fn an_unknown_email_costs_a_check_and_never_matches() {
        let hasher = hasher(1, Duration::from_secs(30));
        let password = Password::parse("correct-horse-battery-staple", &[]).unwrap_or_else(|e| panic!("{e}"));
        let stored = hasher.hash(password).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(hasher.verify("correct-horse-battery-staple".into(), Some(stored)).await.unwrap_or(false));
        assert!(!hasher.verify("correct-horse-battery-staple".into(), None).await.unwrap_or(true));
    }
}
