//! Losing the database and getting it back, told once each way. During an outage every
//! connection attempt fails; logging each one buries the two lines that matter.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use diesel::r2d2::{self, HandleError, HandleEvent};

/// Whether one user of the database (the pool, the notification listener) can reach it.
#[derive(Debug)]
pub(crate) struct Reachability {
    subject: &'static str,
    down: AtomicBool,
    /// The database's refusal of the last failed attempt, while it is down.
    refusal: Mutex<Option<String>>,
}

impl Reachability {
    pub(crate) fn new(subject: &'static str) -> Arc<Self> {
        Arc::new(Self { subject, down: AtomicBool::new(false), refusal: Mutex::new(None) })
    }

    /// An attempt failed: logged only if the database was reachable until now.
    pub(crate) fn failed(&self, error: &dyn fmt::Display) {
        // libpq's messages span lines; a log line (or a readiness answer) should not.
        let error = error.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        if !self.down.swap(true, Ordering::SeqCst) {
            tracing::error!(subject = self.subject, %error, "database unreachable; retrying quietly until it is back");
        }
        *self.refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    /// Why the database is unreachable, while it is.
    pub(crate) fn refusal(&self) -> Option<String> {
        self.refusal.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Whether the last attempt failed.
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    /// An attempt succeeded: logged only if the database was unreachable until now.
    pub(crate) fn succeeded(&self) {
        self.refusal.lock().unwrap_or_else(PoisonError::into_inner).take();
        if self.down.swap(false, Ordering::SeqCst) {
            tracing::info!(subject = self.subject, "database reachable again");
        }
    }
}

/// The pool's hooks: a connection that cannot be opened (or has died) reports the database
/// down, a connection opened reports it back.
#[derive(Debug, Clone)]
pub(crate) struct PoolHealth(pub(crate) Arc<Reachability>);

impl HandleError<r2d2::Error> for PoolHealth {
    fn handle_error(&self, error: r2d2::Error) {
        self.0.failed(&error);
    }
}

impl HandleEvent for PoolHealth {
    fn handle_acquire(&self, _: r2d2::event::AcquireEvent) {
        self.0.succeeded();
    }
}

/// Waits between reconnection attempts: short at first, never long, so that whoever
/// reconnects is back within a fraction of a second of the database, and from the start
/// again after every success.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const LONGEST: Duration = Duration::from_millis(250);

    pub(crate) fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// How long to wait before the next attempt.
    pub(crate) fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::LONGEST);
        wait
    }

    pub(crate) fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_a_quarter_second_and_no_further() {
        let mut backoff = Backoff::new();
        let waits: Vec<u128> = (0..8).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, vec![50, 100, 200, 250, 250, 250, 250, 250]);
    }

    #[test]
    fn a_success_starts_the_waits_over() {
        let mut backoff = Backoff::new();
        for _ in 0..5 {
            backoff.next_wait();
        }
        backoff.reset();
        assert_eq!(backoff.next_wait(), Backoff::FIRST);
    }

    #[test]
    fn only_changes_of_state_are_reported() {
        let reachability = Reachability::new("test");
        assert!(!reachability.down.load(Ordering::SeqCst));
        reachability.failed(&"refused");
        reachability.failed(&"refused again");
        assert!(reachability.down.load(Ordering::SeqCst));
        reachability.succeeded();
        assert!(!reachability.down.load(Ordering::SeqCst));
    }
}
