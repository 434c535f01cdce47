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
pub(crate) struct Events(Vec<StoreEvent>);

impl Events {
    pub(crate) fn push(&mut self, event: StoreEvent) {
        if !self.0.contains(&event) {
            self.0.push(event);
        }
    }

    pub(crate) fn notify_peers(&self, conn: &mut AnyConnection) -> QueryResult<()> {
        let AnyConnection::Postgresql(pg) = conn else {
            return Ok(());
        };
        for event in &self.0 {
            let (channel, payload) = match event {
                StoreEvent::QueueChanged | StoreEvent::Resync => (QUEUE_CHANNEL, String::new()),
                StoreEvent::JobChanged(job) => (JOB_CHANNEL, job.to_string()),
            };
            diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<Text, _>(channel)
                .bind::<Text, _>(payload)
                .execute(pg)?;
        }
        Ok(())
    }

    pub(crate) fn publish(self, hub: &EventHub) {
        self.0.into_iter().for_each(|event| hub.publish(event));
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
pub(crate) fn spawn_listener(url: String, hub: Weak<EventHub>) -> std::io::Result<()> {
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
            match relay(conn, &hub) {
                Ok(()) => return,
                Err(error) => health.failed(&error),
            }
        }
    })?;
    Ok(())
}

/// A connection listening on both channels.
fn subscribe(url: &str) -> Result<PgConnection, Box<dyn std::error::Error>> {
    let mut conn = PgConnection::establish(url)?;
    conn.batch_execute(&format!("LISTEN {QUEUE_CHANNEL}; LISTEN {JOB_CHANNEL};"))?;
    Ok(conn)
}

/// Passes notices on; returns `Ok` when the hub is gone, `Err` when the connection fails.
fn relay(mut conn: PgConnection, hub: &Weak<EventHub>) -> QueryResult<()> {
    // Anything sent while we were away is lost: tell everyone to look again.
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
        for notice in notices {
            let event = match notice.channel.as_str() {
                JOB_CHANNEL => {
                    Uuid::try_parse(&notice.payload).map(StoreEvent::JobChanged).unwrap_or(StoreEvent::Resync)
                }
                _ => StoreEvent::QueueChanged,
            };
            hub.publish(event);
        }
        drop(hub);
        if last_check.elapsed() > KEEPALIVE {
            conn.batch_execute("SELECT 1")?;
            last_check = Instant::now();
        }
        thread::sleep(POLL);
    }
}
