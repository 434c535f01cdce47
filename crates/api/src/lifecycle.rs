//! Stopping promptly and cleanly. On SIGTERM or SIGINT the server stops accepting
//! connections, wakes whatever waits (acquires answer 204, log followers end their streams),
//! lets the requests in flight finish, and exits; when nothing runs, at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// Whether the server is stopping, and how many requests are still in flight.
#[derive(Debug)]
pub struct Lifecycle {
    stopping: watch::Sender<bool>,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Lifecycle {
    pub fn new() -> Self {
        Self { stopping: watch::Sender::new(false), in_flight: AtomicUsize::new(0), idle: Notify::new() }
    }

    /// From now on, waiting requests end and responses close their connections.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Resolves once a stop was asked for.
    pub async fn stopping(&self) {
        let mut stopping = self.stopping.subscribe();
        // The sender lives as long as `self`, so this only ends when stopping.
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }

    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
    }

    pub fn request_ended(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until no request is in flight, or `grace` has passed; true when idle.
    pub async fn drained(&self, grace: Duration) -> bool {
        let idle = async {
            loop {
                let notified = self.idle.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.in_flight() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(grace, idle).await.is_ok()
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn signalled() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            _ => {
                tracing::error!("cannot listen for SIGTERM and SIGINT; stop the server with SIGKILL");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[actix_web::test]
    async fn draining_ends_when_the_last_request_does() {
        let lifecycle = Arc::new(Lifecycle::new());
        assert!(lifecycle.drained(Duration::from_millis(1)).await, "idle at once");
        lifecycle.request_started();
        lifecycle.request_started();
        assert!(!lifecycle.drained(Duration::from_millis(20)).await);
        let finishing = Arc::clone(&lifecycle);
        actix_web::rt::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            finishing.request_ended();
            finishing.request_ended();
        });
        assert!(lifecycle.drained(Duration::from_secs(5)).await);
    }

    #[actix_web::test]
    async fn waiters_wake_when_a_stop_is_asked_for() {
        let lifecycle = Arc::new(Lifecycle::new());
        let waiting = Arc::clone(&lifecycle);
        let waiter = actix_web::rt::spawn(async move { waiting.stopping().await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!lifecycle.is_stopping());
        lifecycle.stop();
        assert!(tokio::time::timeout(Duration::from_secs(1), waiter).await.is_ok());
        // Whoever asks later does not wait.
        assert!(tokio::time::timeout(Duration::from_millis(10), lifecycle.stopping()).await.is_ok());
    }
}
