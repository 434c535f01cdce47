//! Change notices: waiting daemons and log followers learn at once that there is something
//! to look at. Within one process they are plain callbacks; on PostgreSQL they also travel
//! through LISTEN/NOTIFY, so several servers on one database wake each other.

use std::sync::{RwLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use uuid::Uuid;

use crate::conn::AnyConnection;
use crate::health::{Backoff, Reachability};
use crate::queue_index::{PendingChange, QueueIndex};

/// Something changed that someone may be waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreEvent {
    /// A job became pending, or a daemon became free: acquirers should look again.
    QueueChanged,
    /// A job got log lines or changed state.
    JobChanged(Uuid),
    /// Notices may have been missed (the listener reconnected): everyone should look again.
    Resync,
}

const QUEUE_CHANNEL: &str = "api_provisioner_queue";
const JOB_CHANNEL: &str = "api_provisioner_job";
/// Jobs entering and leaving the pending set, for every server's queue numbers.
const PENDING_CHANNEL: &str = "api_provisioner_pending";

type Subscriber = Box<dyn Fn(StoreEvent) + Send + Sync>;

#[derive(Default)]
pub(crate) struct EventHub {
    subscribers: RwLock<Vec<Subscriber>>,
}

impl EventHub {
    pub(crate) fn subscribe(&self, subscriber: Subscriber) {
        if let Ok(mut subscribers) = self.subscribers.write() {
            subscribers.push(subscriber);
        }
    }

    pub(crate) fn publish(&self, event: StoreEvent) {
        if let Ok(subscribers) = self.subscribers.read() {
            subscribers.iter().for_each(|subscriber| subscriber(event));
        }
    }
}

/// Events a write produced; sent to other servers inside the transaction (PostgreSQL
/// delivers a NOTIFY only if it commits) and to this process after the commit.
#[derive(Debug, Default)]
pub(crate) struct Events {
    wake: Vec<StoreEvent>,
    pending: Vec<PendingChange>,
}

impl Events {
    pub(crate) fn push(&mut self, event: StoreEvent) {
        if !self.wake.contains(&event) {
            self.wake.push(event);
        }
    }

    /// A job entered or left the pending set (`None`: it did neither).
    pub(crate) fn pending(&mut self, change: Option<PendingChange>) {
        self.pending.extend(change);
    }

    pub(crate) fn pending_changes(&self) -> &[PendingChange] {
        &self.pending
    }

    pub(crate) fn notify_peers(&self, conn: &mut AnyConnection) -> QueryResult<()> {
        let AnyConnection::Postgresql(pg) = conn else {
            return Ok(());
        };
        let wake = self.wake.iter().map(|event| match event {
            StoreEvent::QueueChanged | StoreEvent::Resync => (QUEUE_CHANNEL, String::new()),
            StoreEvent::JobChanged(job) => (JOB_CHANNEL, job.to_string()),
        });
        let pending = self.pending.iter().map(|change| (PENDING_CHANNEL, change.encode()));
        for (channel, payload) in wake.chain(pending) {
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<Text, _>(channel)
                .bind::<Text, _>(payload)
                .execute(pg)?;
        }
        Ok(())
    }

    pub(crate) fn publish(self, hub: &EventHub) {
        self.wake.into_iter().for_each(|event| hub.publish(event));
    }
}

/// How often the listener drains notices. libpq has no blocking wait in diesel's API, but
/// draining is a local read of the socket buffer, not a query.
const POLL: Duration = Duration::from_millis(25);
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Listens on PostgreSQL until the hub is gone. A lost connection is tried again at once,
/// then after short waits that start over after every success, so wake-ups between servers
/// return within a fraction of a second of the database; the loss and the return are logged,
/// the attempts in between are not.
pub(crate) fn spawn_listener(url: String, hub: Weak<EventHub>, index: Weak<QueueIndex>) -> std::io::Result<()> {
    thread::Builder::new().name("pg-listen".into()).spawn(move || {
        let health = Reachability::new("notification listener");
        let mut backoff = Backoff::new();
        while hub.strong_count() > 0 {
            let conn = match subscribe(&url) {
                Ok(conn) => conn,
                Err(error) => {
                    health.failed(&error);
                    thread::sleep(backoff.next_wait());
                    continue;
                }
            };
            health.succeeded();
            backoff.reset();
            match relay(conn, &hub, &index) {
                Ok(()) => return,
                Err(error) => {
                    if let Some(index) = index.upgrade() {
                        index.following(false);
                    }
                    health.failed(&error)
                }
            }
        }
    })?;
    Ok(())
}

/// A connection listening on both channels.
fn subscribe(url: &str) -> Result<PgConnection, Box<dyn std::error::Error>> {
    let mut conn = PgConnection::establish(url)?;
    conn.batch_execute(&format!("LISTEN {QUEUE_CHANNEL}; LISTEN {JOB_CHANNEL}; LISTEN {PENDING_CHANNEL};"))?;
    Ok(conn)
}

/// Passes notices on; returns `Ok` when the hub is gone, `Err` when the connection fails.
fn relay(mut conn: PgConnection, hub: &Weak<EventHub>, index: &Weak<QueueIndex>) -> QueryResult<()> {
    // Anything sent while we were away is lost: tell everyone to look again.
    if let Some(index) = index.upgrade() {
        index.following(true);
    }
    match hub.upgrade() {
        Some(hub) => hub.publish(StoreEvent::Resync),
        None => return Ok(()),
    }
    let mut last_check = Instant::now();
    loop {
        let notices: Vec<_> = conn.notifications_iter().collect::<QueryResult<_>>()?;
        let Some(hub) = hub.upgrade() else {
            return Ok(());
        };
        let mut heard = Vec::new();
        for notice in notices {
            let event = match notice.channel.as_str() {
                PENDING_CHANNEL => {
                    match PendingChange::decode(&notice.payload) {
                        Some(change) => heard.push(change),
                        // Not ours to read: start the copies afresh rather than guess.
                        None => {
                            if let Some(index) = index.upgrade() {
                                index.following(true);
                            }
                        }
                    }
                    continue;
                }
                JOB_CHANNEL => {
                    Uuid::try_parse(&notice.payload).map(StoreEvent::JobChanged).unwrap_or(StoreEvent::Resync)
                }
                _ => StoreEvent::QueueChanged,
            };
            hub.publish(event);
        }
        drop(hub);
        if !heard.is_empty()
            && let Some(index) = index.upgrade()
        {
            index.apply_heard(&heard);
        }
        if last_check.elapsed() > KEEPALIVE {
            conn.batch_execute("SELECT 1")?;
            last_check = Instant::now();
        }
        thread::sleep(POLL);
    }
}
