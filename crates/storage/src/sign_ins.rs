//! Daemons' sign-ins this server has looked up, so that a daemon's every request does not
//! read its key again.
//!
//! Only sign-ins that succeeded are kept, so a key or a daemon that appears needs no notice.
//! Whatever could make a kept one wrong (a key deleted, a daemon registered again with another
//! key or removed, an organization deleted) forgets them all: on the server that wrote it
//! after its commit, and on PostgreSQL on every server when the notice the database's triggers
//! send arrives. A SQLite file has one server, whose own writes are all there is to hear
//! (another process writing the file is heard of by nobody: [`KEPT_FOR`] bounds what that
//! leaves unheard). On PostgreSQL, while notices may be missed,
//! before the listener is connected or after it lost its connection, nothing is kept. A
//! look-up that was under way when they were forgotten is not kept either: it may have read
//! the rows as they were before. And none is kept longer than [`KEPT_FOR`], so that even a
//! notice lost without the listener knowing (a connection cut without a word is found only
//! by its keep-alive) leaves a change unheard for seconds at most.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use domain::repo::DaemonSignIn;
use uuid::Uuid;

/// How long a sign-in is answered from what was read, at most. A daemon under load asks
/// hundreds of times in that while; one that asks less often costs a read now and then.
const KEPT_FOR: Duration = Duration::from_secs(10);

/// More than any deployment has daemons: reaching it forgets everything rather than grow.
const MOST_KEPT: usize = 4096;

/// A key's hashed secret, and the daemon a request named with it.
type Presented = (Vec<u8>, Option<Uuid>);

/// Keeps nothing until told that changes are heard.
#[derive(Debug, Default)]
pub(crate) struct SignIns {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    /// Counts the times everything was forgotten: a look-up keeps its answer only if none
    /// came between its start and its end.
    forgotten: u64,
    /// Whether every change that could make a sign-in wrong is heard.
    hearing: bool,
    /// Each with when the look-up that read it started.
    sign_ins: HashMap<Presented, (DaemonSignIn, Instant)>,
    counts: DaemonSignIns,
}

/// How this server answered daemons' sign-ins so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DaemonSignIns {
    /// From what it kept.
    pub kept: u64,
    /// By reading the database.
    pub read: u64,
}

/// A look-up about to read the database, as [`SignIns::look_up`] started it.
#[derive(Debug)]
pub(crate) struct LookUp {
    presented: Presented,
    forgotten: u64,
    started: Instant,
}

impl SignIns {
    fn kept(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kept sign-in for this secret and daemon, or the look-up to make.
    pub(crate) fn look_up(&self, hashed_secret: &[u8], daemon: Option<Uuid>) -> Result<DaemonSignIn, LookUp> {
        self.look_up_at(hashed_secret, daemon, Instant::now())
    }

    fn look_up_at(&self, hashed_secret: &[u8], daemon: Option<Uuid>, now: Instant) -> Result<DaemonSignIn, LookUp> {
        let presented = (hashed_secret.to_vec(), daemon);
        let mut kept = self.kept();
        match kept.sign_ins.get(&presented) {
            Some((sign_in, read)) if now.saturating_duration_since(*read) < KEPT_FOR => {
                let sign_in = sign_in.clone();
                kept.counts.kept += 1;
                Ok(sign_in)
            }
            _ => Err(LookUp { presented, forgotten: kept.forgotten, started: now }),
        }
    }

    /// What the look-up found. Kept if it signed in (with the daemon, when one was named) and
    /// nothing was forgotten meanwhile.
    pub(crate) fn found(&self, look_up: LookUp, found: &Option<DaemonSignIn>) {
        let mut kept = self.kept();
        kept.counts.read += 1;
        let Some(sign_in) = found else { return };
        if look_up.presented.1.is_some() && sign_in.daemon.is_none() {
            return;
        }
        if !kept.hearing || kept.forgotten != look_up.forgotten {
            return;
        }
        if kept.sign_ins.len() >= MOST_KEPT {
            kept.sign_ins.clear();
        }
        kept.sign_ins.insert(look_up.presented, (sign_in.clone(), look_up.started));
    }

    pub(crate) fn counts(&self) -> DaemonSignIns {
        self.kept().counts
    }

    /// Something that may change a sign-in was written, here or on another server.
    pub(crate) fn forget(&self) {
        self.kept().forget();
    }

    /// Changes are heard from now on (`true`), or may be missed until further notice.
    pub(crate) fn hearing(&self, hearing: bool) {
        let mut kept = self.kept();
        kept.forget();
        kept.hearing = hearing;
    }
}

impl Kept {
    /// Drops what is kept, and what look-ups under way would keep.
    fn forget(&mut self) {
        self.sign_ins.clear();
        self.forgotten += 1;
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use domain::provisioner::ProvisionerKey;

    use super::*;

    fn sign_in(daemon: Option<Uuid>) -> DaemonSignIn {
        let key = ProvisionerKey {
            id: Uuid::now_v7(),
            organization_id: Uuid::now_v7(),
            name: "key".into(),
            tags: domain::provisioner::Tags::from_normalised(Default::default()),
            hashed_secret: Vec::new(),
            created_at: Utc::now(),
        };
        DaemonSignIn { key, daemon }
    }

    fn hearing() -> SignIns {
        let sign_ins = SignIns::default();
        sign_ins.hearing(true);
        sign_ins
    }

    /// The look-up `secret` and `daemon` need, which must not be kept yet.
    fn not_kept(sign_ins: &SignIns, secret: &[u8], daemon: Option<Uuid>) -> LookUp {
        not_kept_at(sign_ins, secret, daemon, Instant::now())
    }

    fn not_kept_at(sign_ins: &SignIns, secret: &[u8], daemon: Option<Uuid>, now: Instant) -> LookUp {
        match sign_ins.look_up_at(secret, daemon, now) {
            Err(look_up) => look_up,
            Ok(kept) => panic!("kept already: {kept:?}"),
        }
    }

    fn kept(sign_ins: &SignIns, secret: &[u8], daemon: Option<Uuid>) -> Option<DaemonSignIn> {
        sign_ins.look_up(secret, daemon).ok()
    }

    #[test]
    fn a_sign_in_found_is_kept_for_the_same_secret_and_daemon_only() {
        let sign_ins = hearing();
        let daemon = Some(Uuid::now_v7());
        let found = Some(sign_in(daemon));
        sign_ins.found(not_kept(&sign_ins, b"secret", daemon), &found);
        assert_eq!(kept(&sign_ins, b"secret", daemon), found);
        assert_eq!(kept(&sign_ins, b"secret", None), None);
        assert_eq!(kept(&sign_ins, b"other", daemon), None);
        assert_eq!(kept(&sign_ins, b"secret", Some(Uuid::now_v7())), None);
        assert_eq!(sign_ins.counts(), DaemonSignIns { kept: 1, read: 1 });
    }

    #[test]
    fn a_refusal_is_not_kept() {
        let sign_ins = hearing();
        sign_ins.found(not_kept(&sign_ins, b"wrong", None), &None);
        assert!(sign_ins.kept().sign_ins.is_empty());
        // The key, without the daemon named: the daemon may yet register.
        let daemon = Some(Uuid::now_v7());
        sign_ins.found(not_kept(&sign_ins, b"secret", daemon), &Some(sign_in(None)));
        assert_eq!(kept(&sign_ins, b"secret", daemon), None);
    }

    #[test]
    fn forgetting_drops_what_is_kept_and_what_was_being_looked_up() {
        let sign_ins = hearing();
        sign_ins.found(not_kept(&sign_ins, b"kept", None), &Some(sign_in(None)));
        let under_way = not_kept(&sign_ins, b"under way", None);
        sign_ins.forget();
        sign_ins.found(under_way, &Some(sign_in(None)));
        assert_eq!(kept(&sign_ins, b"kept", None), None);
        assert_eq!(kept(&sign_ins, b"under way", None), None);
    }

    #[test]
    fn nothing_is_kept_while_changes_may_be_missed() {
        let sign_ins = SignIns::default();
        sign_ins.found(not_kept(&sign_ins, b"secret", None), &Some(sign_in(None)));
        assert_eq!(kept(&sign_ins, b"secret", None), None);
        // A look-up that began before the listener connected read what it may have missed.
        let before = not_kept(&sign_ins, b"secret", None);
        sign_ins.hearing(true);
        sign_ins.found(before, &Some(sign_in(None)));
        assert_eq!(kept(&sign_ins, b"secret", None), None);
        sign_ins.found(not_kept(&sign_ins, b"secret", None), &Some(sign_in(None)));
        assert!(kept(&sign_ins, b"secret", None).is_some());
        sign_ins.hearing(false);
        assert_eq!(kept(&sign_ins, b"secret", None), None);
    }

    #[test]
    fn a_sign_in_is_read_again_once_kept_for_long_enough() {
        let sign_ins = hearing();
        let read = Instant::now();
        sign_ins.found(not_kept_at(&sign_ins, b"secret", None, read), &Some(sign_in(None)));
        assert!(sign_ins.look_up_at(b"secret", None, read + KEPT_FOR / 2).is_ok());
        assert!(sign_ins.look_up_at(b"secret", None, read + KEPT_FOR).is_err());
    }

    #[test]
    fn a_full_store_starts_over_rather_than_grow() {
        let sign_ins = hearing();
        for n in 0..=MOST_KEPT {
            let secret = n.to_le_bytes();
            sign_ins.found(not_kept(&sign_ins, &secret, None), &Some(sign_in(None)));
        }
        assert_eq!(sign_ins.kept().sign_ins.len(), 1);
    }
}
