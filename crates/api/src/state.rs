//! What every handler shares: the store, the settings, and the wake-up signals.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::repo::RepoError;
use storage::{Store, StoreEvent};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::config::Settings;
use crate::dispatch::waiters::Waiters;
use crate::error::ApiError;
use crate::hashing::PasswordHasher;
use crate::lifecycle::Lifecycle;
use crate::limits::Limits;
use crate::metrics::Metrics;

/// Wakes whoever waits for work or for a job's progress, from the store's change notices.
#[derive(Debug)]
pub struct Signals {
    /// Daemons waiting for a job.
    pub waiters: Arc<Waiters>,
    jobs: broadcast::Sender<JobSignal>,
}

/// A job changed, or possibly any job did (after missed notices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSignal {
    Job(Uuid),
    Any,
}

impl Signals {
    pub fn new() -> Self {
        Self { waiters: Arc::default(), jobs: broadcast::Sender::new(1024) }
    }

    pub fn notice(&self, event: StoreEvent) {
        match event {
            StoreEvent::JobQueued(job) => self.waiters.announce(&job),
            StoreEvent::QueueChanged => self.waiters.wake_all(),
            StoreEvent::JobChanged(job) => {
                let _ = self.jobs.send(JobSignal::Job(job));
            }
            StoreEvent::Resync => {
                self.waiters.wake_all();
                let _ = self.jobs.send(JobSignal::Any);
            }
        }
    }

    pub fn jobs(&self) -> broadcast::Receiver<JobSignal> {
        self.jobs.subscribe()
    }
}

impl Default for Signals {
    fn default() -> Self {
        Self::new()
    }
}

pub struct AppState {
    pub store: Store,
    pub settings: Settings,
    pub signals: Arc<Signals>,
    /// Every password check goes through it: at most one per CPU core at once.
    pub passwords: PasswordHasher,
    pub metrics: Metrics,
    pub limits: Limits,
    pub lifecycle: Lifecycle,
}

impl AppState {
    /// Fails only when the password hashing threads cannot be started.
    pub fn new(store: Store, settings: Settings, limits: Limits) -> std::io::Result<Self> {
        let signals = Arc::new(Signals::new());
        let notices = Arc::clone(&signals);
        store.subscribe(move |event| notices.notice(event));
        Ok(Self {
            store,
            settings,
            signals,
            passwords: PasswordHasher::per_core()?,
            metrics: Metrics::new(),
            limits,
            lifecycle: Lifecycle::new(),
        })
    }

    /// Runs blocking work (database calls) off the async workers.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce(&Store) -> T + Send + 'static) -> Result<T, ApiError> {
        let store = self.store.clone();
        Ok(actix_web::web::block(move || work(&store)).await?)
    }

    /// [`Self::run`] for a repository call whose failures have their generic meaning.
    pub async fn db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, RepoError> + Send + 'static,
    ) -> Result<T, ApiError> {
        Ok(self.run(work).await??)
    }
}

/// The current instant at the precision the API keeps.
pub fn now() -> DateTime<Utc> {
    domain::time::truncate(Utc::now())
}
