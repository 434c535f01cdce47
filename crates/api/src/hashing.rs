//! Password hashing with a bound. One argon2 check takes a core and about 19 MiB for tens
//! of milliseconds, and signing in needs no account: unbounded, a flood of wrong passwords
//! takes every core and gigabytes of memory from the rest of the server. So checks run on
//! threads of their own, one per core, each reusing one block of argon2 memory (freed and
//! reallocated on whatever thread was free, that memory stayed behind in the allocator's
//! per-thread arenas: a gigabyte under a flood). The others wait their turn without holding
//! a thread, and give up with a 503 when the wait is too long or too many already wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use actix_web::http::StatusCode;
use domain::user::Password;
use tokio::sync::{Semaphore, oneshot};

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

    /// A new argon2id hash of `password`.
    pub async fn hash(&self, password: Password) -> Result<String, ApiError> {
        let hashed = self.bounded(move |memory| secrets::hash_password_in(memory, &password)).await?;
        hashed.map_err(|error| ApiError::internal(&error))
    }

    /// Whether `password` matches `stored`; with no stored hash, the same work against the
    /// decoy, and `false`.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.decoy.clone());
        let matches = self.bounded(move |memory| secrets::verify_password_in(memory, &password, &hash)).await?;
        Ok(known && matches)
    }

    /// Checks waiting for their turn now.
    pub fn waiting(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    async fn bounded<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = || ApiError::new(StatusCode::SERVICE_UNAVAILABLE, BUSY).retry_after(1);
        if self.queued.fetch_add(1, Ordering::Relaxed) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(busy());
        }
        let slot = tokio::time::timeout(self.max_wait, Arc::clone(&self.slots).acquire_owned()).await;
        self.queued.fetch_sub(1, Ordering::Relaxed);
        let Ok(Ok(slot)) = slot else {
            return Err(busy());
        };
        // Holding a slot, a thread is free: the job starts at once.
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = done.send(work(memory));
        });
        let gone = || ApiError::internal(&std::io::Error::other("the password hashing threads have stopped"));
        self.jobs.send(job).map_err(|_| gone())?;
        let result = result.await.map_err(|_| gone());
        drop(slot);
        result
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
                    hasher
                        .bounded(move |_| {
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
        let first =
            actix_web::rt::spawn(async move { slow.bounded(|_| std::thread::sleep(Duration::from_millis(500))).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let refused = hasher.bounded(|_| ()).await.err().map(|e| actix_web::ResponseError::status_code(&e));
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
