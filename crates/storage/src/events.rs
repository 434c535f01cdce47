//! Change notices: waiting daemons and log followers learn at once that there is something
//! to look at. Within one process they are plain callbacks; on PostgreSQL they also travel
//! through LISTEN/NOTIFY, so several servers on one database wake each other.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, PoisonError, RwLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use domain::provisioner::{ProvisionerType, Tags};
use uuid::Uuid;

use crate::conn::AnyConnection;
use crate::health::{Backoff, Reachability};
use crate::queue_index::{PendingChange, QueueIndex};
use crate::sign_ins::SignIns;
use crate::tag_catalog::TagCatalog;
use crate::wake_socket::{Notice, WakeSocket, Woken};

/// Something changed that someone may be waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreEvent {
    /// A job entered the queue (new, or put back): one daemon that can run it should look.
    /// Each server hears of each such job once.
    JobQueued(JobQueued),
    /// The queue may have changed in any way (a server of an earlier release says only
    /// that): every waiting daemon should look.
    QueueChanged,
    /// A job got log lines or changed state.
    JobChanged(Uuid),
    /// Notices may have been missed (the listener reconnected): everyone should look again.
    Resync,
}

/// A job that entered the queue, as a waiting daemon tells whether it can run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobQueued {
    pub organization: Uuid,
    pub job: Uuid,
    pub provisioner: ProvisionerType,
    /// `None` while this server has not read the job's tag set: any daemon of the
    /// organization that offers the provisioner may be the one.
    pub tags: Option<Tags>,
}

impl JobQueued {
    fn of(change: &PendingChange, tags: &TagCatalog) -> Self {
        Self {
            organization: change.organization,
            job: change.job,
            provisioner: change.kind.provisioner.clone(),
            tags: tags.known(change.kind.tag_set),
        }
    }
}

/// Read by servers of earlier releases, which sent it for every change to the queue.
const QUEUE_CHANNEL: &str = "api_provisioner_queue";
const JOB_CHANNEL: &str = "api_provisioner_job";
/// Jobs entering and leaving the pending set, for every server's queue numbers.
const PENDING_CHANNEL: &str = "api_provisioner_pending";
/// A provisioner key, a daemon or an organization changed: the daemons' sign-ins servers keep
/// are forgotten. Sent by the database's triggers, whoever made the change.
const SIGN_IN_CHANNEL: &str = "api_provisioner_sign_in";

type Subscriber = Box<dyn Fn(StoreEvent) + Send + Sync>;

#[derive(Default)]
pub(crate) struct EventHub {
    subscribers: RwLock<Vec<Subscriber>>,
    /// Jobs this server announced itself, whose notice the listener will hear again.
    echoes: Mutex<HashMap<Uuid, (u32, Instant)>>,
}

/// An echo not heard by then never will be (the listener was away): it is forgotten.
const ECHO_LIFETIME: Duration = Duration::from_secs(30);

impl EventHub {
    pub(crate) fn subscribe(&self, subscriber: Subscriber) {
        if let Ok(mut subscribers) = self.subscribers.write() {
            subscribers.push(subscriber);
        }
    }

    pub(crate) fn publish(&self, event: StoreEvent) {
        if let Ok(subscribers) = self.subscribers.read() {
            subscribers.iter().for_each(|subscriber| subscriber(event.clone()));
        }
    }

    fn echoes(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (u32, Instant)>> {
        self.echoes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This server is about to commit these changes and announce the jobs that enter the
    /// queue; the listener will hear them too. Called before the commit, so the echo can
    /// never be heard before it is expected.
    pub(crate) fn expect_echoes(&self, changes: &[PendingChange]) {
        let mut entering = changes.iter().filter(|change| change.entered).peekable();
        if entering.peek().is_none() {
            return;
        }
        let now = Instant::now();
        let mut echoes = self.echoes();
        echoes.retain(|_, (_, at)| now.duration_since(*at) < ECHO_LIFETIME);
        for change in entering {
            let (count, at) = echoes.entry(change.job).or_insert((0, now));
            *count += 1;
            *at = now;
        }
    }

    /// The commit of these changes, whose echoes were expected, failed: nothing will be
    /// heard, and the same jobs entering the queue through another server are news.
    pub(crate) fn forget_echoes(&self, changes: &[PendingChange]) {
        let mut echoes = self.echoes();
        for change in changes.iter().filter(|change| change.entered) {
            take_echo(&mut echoes, change.job);
        }
    }

    /// Whether a notice heard for `job` is the echo of this server's own announcement.
    fn is_echo(&self, job: Uuid) -> bool {
        take_echo(&mut self.echoes(), job)
    }

    /// Announces the jobs these changes put in the queue. `heard`: the listener's changes,
    /// among which this server's own are echoes, announced already.
    fn announce(&self, changes: &[PendingChange], tags: &TagCatalog, heard: bool) {
        for change in changes.iter().filter(|change| change.entered) {
            if !(heard && self.is_echo(change.job)) {
                self.publish(StoreEvent::JobQueued(JobQueued::of(change, tags)));
            }
        }
    }
}

/// Counts one echo of `job` off; whether there was one.
fn take_echo(echoes: &mut HashMap<Uuid, (u32, Instant)>, job: Uuid) -> bool {
    let Some((count, _)) = echoes.get_mut(&job) else {
        return false;
    };
    *count -= 1;
    if *count == 0 {
        echoes.remove(&job);
    }
    true
}

/// Events a write produced; sent to other servers with the commit and to this process after
/// it.
#[derive(Debug, Default)]
pub(crate) struct Events {
    wake: Vec<StoreEvent>,
    pending: Vec<PendingChange>,
    /// Whether a daemon's sign-in may have changed: this server forgets what it kept at once,
    /// rather than when the notice comes back.
    sign_ins: bool,
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

    /// A key or a daemon changed in a way that may change a daemon's sign-in.
    pub(crate) fn sign_ins_changed(&mut self) {
        self.sign_ins = true;
    }

    pub(crate) fn changes_sign_ins(&self) -> bool {
        self.sign_ins
    }

    /// The statement that tells other servers, sent with the commit (PostgreSQL delivers a
    /// `NOTIFY` only if its transaction commits); `None` when there is nobody to tell.
    pub(crate) fn peer_notices(&self, conn: &AnyConnection) -> Option<String> {
        let AnyConnection::Postgresql(_) = conn else {
            return None;
        };
        let notices: Vec<String> = self
            .notices()
            .into_iter()
            .map(|(channel, payload)| format!("pg_notify({}, {})", literal(channel), literal(&payload)))
            .collect();
        (!notices.is_empty()).then(|| format!("SELECT {}", notices.join(", ")))
    }

    /// What other servers are told, each notice as its channel and payload.
    pub(crate) fn notices(&self) -> Vec<(&'static str, String)> {
        let wake = self.wake.iter().filter_map(|event| match event {
            StoreEvent::QueueChanged | StoreEvent::Resync => Some((QUEUE_CHANNEL, String::new())),
            StoreEvent::JobChanged(job) => Some((JOB_CHANNEL, job.to_string())),
            // Travels as its pending change.
            StoreEvent::JobQueued(_) => None,
        });
        let pending = self.pending.iter().map(|change| (PENDING_CHANNEL, change.encode()));
        wake.chain(pending).collect()
    }

    /// After the commit.
    pub(crate) fn publish(self, hub: &EventHub, tags: &TagCatalog) {
        hub.announce(&self.pending, tags, false);
        self.wake.into_iter().for_each(|event| hub.publish(event));
    }
}

/// What the listener keeps current. Each keeps nothing while notices may be missed.
pub(crate) struct Followers {
    pub(crate) index: Weak<QueueIndex>,
    pub(crate) sign_ins: Weak<SignIns>,
}

impl Followers {
    /// The listener connected (`true`: start afresh) or lost its connection (`false`).
    fn following(&self, following: bool) {
        if let Some(index) = self.index.upgrade() {
            index.following(following);
        }
        if let Some(sign_ins) = self.sign_ins.upgrade() {
            sign_ins.hearing(following);
        }
    }
}

/// A listener that heard nothing for this long asks the database whether it is still there.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Listens on PostgreSQL until the store is gone: until the hub is, or the other end of the
/// stream this returns is closed, whichever comes first. It sleeps on the connection's socket,
/// so a notice is passed on as soon as it arrives. A lost connection is tried again at once,
/// then after short waits that start over after every success, so wake-ups between servers
/// return within a fraction of a second of the database; the loss and the return are logged,
/// the attempts in between are not.
pub(crate) fn spawn_listener(url: String, hub: Weak<EventHub>, followers: Followers) -> std::io::Result<UnixStream> {
    let (keep, kept) = UnixStream::pair()?;
    thread::Builder::new().name("pg-listen".into()).spawn(move || {
        let health = Reachability::new("notification listener");
        let mut backoff = Backoff::new();
        while hub.strong_count() > 0 {
            let socket = match subscribe(&url) {
                Ok(socket) => socket,
                Err(error) => {
                    health.failed(&error);
                    thread::sleep(backoff.next_wait());
                    continue;
                }
            };
            health.succeeded();
            backoff.reset();
            let mut listener = Listener { socket, url: &url, reader: None };
            match listener.relay(kept.as_fd(), &hub, &followers) {
                Ok(()) => return,
                Err(error) => {
                    followers.following(false);
                    health.failed(&error)
                }
            }
        }
    })?;
    Ok(keep)
}

/// A connection listening on every channel.
fn subscribe(url: &str) -> Result<WakeSocket, String> {
    let mut socket = WakeSocket::connect(url)?;
    socket.execute(&format!(
        "LISTEN {QUEUE_CHANNEL}; LISTEN {JOB_CHANNEL}; LISTEN {PENDING_CHANNEL}; LISTEN {SIGN_IN_CHANNEL};"
    ))?;
    Ok(socket)
}

struct Listener<'a> {
    socket: WakeSocket,
    url: &'a str,
    /// For the tag sets notices name; opened the first time one is not known.
    reader: Option<AnyConnection>,
}

impl Listener<'_> {
    /// Passes notices on; returns `Ok` when the store is gone, `Err` when a connection fails.
    fn relay(&mut self, kept: BorrowedFd<'_>, hub: &Weak<EventHub>, followers: &Followers) -> Result<(), String> {
        // Anything sent while we were away is lost: tell everyone to look again.
        followers.following(true);
        match hub.upgrade() {
            Some(hub) => hub.publish(StoreEvent::Resync),
            None => return Ok(()),
        }
        loop {
            let notices = match self.socket.wait(kept, KEEPALIVE)? {
                Woken::Notices(notices) => notices,
                Woken::Quiet => {
                    self.socket.execute("SELECT 1")?;
                    continue;
                }
                Woken::Stopped => return Ok(()),
            };
            let Some(hub) = hub.upgrade() else {
                return Ok(());
            };
            self.pass_on(notices, &hub, followers)?;
        }
    }

    fn pass_on(&mut self, notices: Vec<Notice>, hub: &EventHub, followers: &Followers) -> Result<(), String> {
        let index = &followers.index;
        let mut heard = Vec::new();
        let mut wake = Vec::new();
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
                SIGN_IN_CHANNEL => {
                    if let Some(sign_ins) = followers.sign_ins.upgrade() {
                        sign_ins.forget();
                    }
                    continue;
                }
                JOB_CHANNEL => {
                    Uuid::try_parse(&notice.payload).map(StoreEvent::JobChanged).unwrap_or(StoreEvent::Resync)
                }
                _ => StoreEvent::QueueChanged,
            };
            wake.push(event);
        }
        // The copies first: whoever wakes asks them about the very jobs it was woken for.
        if !heard.is_empty()
            && let Some(index) = index.upgrade()
        {
            index.apply_heard(&heard);
            // A job of a tag set this server has not read yet would wake every waiter that
            // might run it: the set is read first, so that only one that can is woken.
            let entering = heard.iter().filter(|change| change.entered).map(|change| change.kind.tag_set);
            let unknown: Vec<_> = entering.filter(|set| index.tags.known(*set).is_none()).collect();
            if !unknown.is_empty() {
                index.tags.tags_of(self.reader()?, unknown).map_err(|error| error.to_string())?;
            }
            hub.announce(&heard, &index.tags, true);
        }
        wake.into_iter().for_each(|event| hub.publish(event));
        Ok(())
    }

    fn reader(&mut self) -> Result<&mut AnyConnection, String> {
        match &mut self.reader {
            Some(reader) => Ok(reader),
            empty => {
                let reader = PgConnection::establish(self.url).map_err(|error| error.to_string())?;
                Ok(empty.insert(AnyConnection::Postgresql(reader)))
            }
        }
    }
}

/// `text` as a string literal, whatever the server's `standard_conforming_strings`: the
/// notices travel in a statement without parameters.
fn literal(text: &str) -> String {
    format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}
