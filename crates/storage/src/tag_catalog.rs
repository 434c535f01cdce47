//! This server's copy of the stored tag sets. A set's id is the fingerprint of its tags, so a
//! set never changes and is read once; what can change is which sets exist. An acquisition
//! asks which sets its daemon may run, and that question is answered here, not by reading
//! every set on every acquisition.
//!
//! The copy is complete once read in full, and stays complete while every new set is heard
//! of: a job entering the pending set names its set, through this process's own writes and
//! (on PostgreSQL) through the listener, which reads a set it does not know before passing the
//! job on. A set heard of but not yet known is read before the next answer. While the listener
//! is away nothing can be heard, so every answer reads the whole table again, as it would with
//! no copy at all.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use diesel::QueryResult;
use domain::provisioner::Tags;

use crate::conn::AnyConnection;
use crate::repos::tag_sets;
use crate::sql_types::Id;

#[derive(Default)]
struct Known {
    sets: HashMap<Id, Tags>,
    /// Whether `sets` holds every stored set, but those in `unknown`.
    complete: bool,
    /// Sets named by changes before they were read.
    unknown: Vec<Id>,
    /// Whether new sets are heard of at all (on PostgreSQL, whether the listener is connected).
    following: bool,
    /// Counts the listener's comings and goings, so a reading that straddles one is not
    /// taken for complete.
    epoch: u64,
}

pub(crate) struct TagCatalog {
    known: Mutex<Known>,
}

impl TagCatalog {
    pub(crate) fn new(following: bool) -> Self {
        Self { known: Mutex::new(Known { following, ..Known::default() }) }
    }

    fn state(&self) -> MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes name these sets; those not known are read before the next answer.
    pub(crate) fn heard_of(&self, sets: impl IntoIterator<Item = Id>) {
        let mut known = self.state();
        for set in sets {
            if !known.sets.contains_key(&set) && !known.unknown.contains(&set) {
                known.unknown.push(set);
            }
        }
    }

    /// The tags of a set this server has read, without reading anything.
    pub(crate) fn known(&self, set: Id) -> Option<Tags> {
        self.state().sets.get(&set).cloned()
    }

    /// A set this server is storing: its tags are known without reading them back.
    pub(crate) fn learn(&self, set: Id, tags: &Tags) {
        self.state().sets.entry(set).or_insert_with(|| tags.clone());
    }

    /// The listener connected or went away: what was missed meanwhile is not known.
    pub(crate) fn following(&self, following: bool) {
        let mut known = self.state();
        known.following = following;
        known.complete = false;
        known.epoch += 1;
    }

    /// The tags of these sets, read from the database the first time each is needed.
    pub(crate) fn tags_of(
        &self,
        conn: &mut AnyConnection,
        ids: impl IntoIterator<Item = Id>,
    ) -> QueryResult<HashMap<Id, Tags>> {
        let wanted: Vec<Id> = ids.into_iter().collect();
        let mut found = HashMap::with_capacity(wanted.len());
        let mut missing = Vec::new();
        {
            let known = self.state();
            for id in wanted {
                match known.sets.get(&id) {
                    Some(tags) => {
                        found.insert(id, tags.clone());
                    }
                    None => missing.push(id),
                }
            }
        }
        if !missing.is_empty() {
            let loaded = tag_sets::load(conn, missing)?;
            let mut known = self.state();
            for (id, tags) in loaded {
                known.sets.insert(id, tags.clone());
                found.insert(id, tags);
            }
            known.unknown.retain(|id| !found.contains_key(id));
        }
        Ok(found)
    }

    /// The ids of every stored set whose jobs a daemon with `daemon` tags may run.
    pub(crate) fn runnable_by(&self, conn: &mut AnyConnection, daemon: &Tags) -> QueryResult<Vec<Id>> {
        self.bring_up_to_date(conn)?;
        let known = self.state();
        Ok(known.sets.iter().filter(|(_, tags)| daemon.can_run(tags)).map(|(id, _)| *id).collect())
    }

    fn bring_up_to_date(&self, conn: &mut AnyConnection) -> QueryResult<()> {
        let (complete, unknown, epoch) = {
            let known = self.state();
            (known.complete && known.following, known.unknown.clone(), known.epoch)
        };
        if complete && unknown.is_empty() {
            return Ok(());
        }
        let read = if complete { tag_sets::load(conn, unknown.iter().copied())? } else { tag_sets::all(conn)? };
        let mut known = self.state();
        known.sets.extend(read);
        // A set named by a write that did not commit is not stored: it is not asked for again.
        known.unknown.retain(|id| !unknown.contains(id));
        if !complete && known.following && known.epoch == epoch {
            known.complete = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_catalog_reads_everything_first() {
        let catalog = TagCatalog::new(true);
        let known = catalog.state();
        assert!(!known.complete);
        assert!(known.following);
    }

    #[test]
    fn a_set_is_heard_of_once() {
        let catalog = TagCatalog::new(true);
        let set = Id(uuid::Uuid::now_v7());
        catalog.heard_of([set, set]);
        catalog.heard_of([set]);
        assert_eq!(catalog.state().unknown, vec![set]);
    }

    #[test]
    fn losing_the_listener_makes_the_catalog_incomplete() {
        let catalog = TagCatalog::new(false);
        catalog.state().complete = true;
        catalog.following(true);
        let known = catalog.state();
        assert!(!known.complete);
        assert_eq!(known.epoch, 1);
    }
}
