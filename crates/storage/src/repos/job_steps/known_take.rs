//! PostgreSQL: a daemon taking a job alone, its marking, pick and write in one statement
//! instead of three.
//!
//! Several servers with a few daemons each mostly run batches of one step, whose cost is its
//! round trips: `BEGIN`, the marking, the locking pick, the write, the `COMMIT`. When this
//! server has marked the daemon before, it knows what the daemon chooses jobs by
//! ([`ChoosesBy`](crate::sightings::ChoosesBy)), so the tag sets it can run are known before
//! its row is read. The marking checks that the daemon still chooses by that (registering
//! again may change its tags), and the pick runs only if it does. What the statement writes
//! is the start the domain decides for a pending job; the job it took is checked against that
//! decision before the commit.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use diesel::dsl::{AsSelect, sql};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use domain::provisioner::JobState;

use super::with::With;
use super::{SeenDaemon, Written, oldest_pending, sighting};
use crate::Store;
use crate::conn::AnyConnection;
use crate::error::Fail;
use crate::events::Events;
use crate::prepared::Prepared;
use crate::repos::jobs::moved;
use crate::rows::jobs::{JobRow, StateChange};
use crate::schema::{provisioner_daemons, provisioner_jobs};
use crate::sql_types::{Id, Instant, UtcTimestamp};

impl Store {
    /// `daemon` takes the oldest job it can run, if this server knows what it chooses by and
    /// it still does; `None` when that must be found out first (or there was no job: the
    /// longer way finds that out again, and it is not the hot path).
    pub(super) fn take_known(
        &self,
        conn: &mut AnyConnection,
        events: &mut Events,
        daemon: Id,
        now: DateTime<Utc>,
    ) -> Result<Option<Written>, Fail> {
        if !matches!(conn, AnyConnection::Postgresql(_)) {
            return Ok(None);
        }
        let Some(by) = self.sightings.chooses_by(daemon) else { return Ok(None) };
        let runnable = self.runnable_by(conn, by.tag_set)?;
        if runnable.is_empty() {
            return Ok(None);
        }
        // A pending job's start, as the domain decides it.
        let Some(start) = JobState::default().start(now) else { return Ok(None) };
        let change = StateChange::new(&start, now);
        let marking = diesel::update(
            provisioner_daemons::table
                .filter(provisioner_daemons::id.eq(daemon))
                .filter(provisioner_daemons::organization_id.eq(by.organization))
                .filter(provisioner_daemons::tag_set_id.eq(by.tag_set)),
        )
        .set(provisioner_daemons::last_seen_at.eq(sighting(&self.liveness, now)))
        .returning((provisioner_daemons::name, provisioner_daemons::last_seen_at));
        let picking = oldest_pending(by.organization, daemon, runnable, 1)
            .filter(sql::<Bool>("EXISTS (SELECT FROM marked)"))
            .select(JobRow::as_select())
            .for_update()
            .skip_locked();
        let taking = diesel::update(
            provisioner_jobs::table.filter(sql::<Bool>("provisioner_jobs.id IN (SELECT picked.id FROM picked)")),
        )
        .set((&change, provisioner_jobs::worker_id.eq(daemon)))
        .returning(provisioner_jobs::id);
        let statement = With::<(Text, UtcTimestamp, BigInt, AsSelect<JobRow, Pg>)>::new(
            "SELECT marked.name, marked.last_seen_at, (SELECT count(*) FROM taken), picked.* FROM marked, picked",
        )
        .part("marked", marking)
        .part("picked", picking)
        .part("taken", taking);
        let AnyConnection::Postgresql(pg) = conn else { return Ok(None) };
        let mut rows: Vec<(String, Instant, i64, JobRow)> = Prepared::new(statement).load(pg)?;
        let Some((name, last_seen_at, written, row)) = rows.pop() else { return Ok(None) };
        if written != 1 || !rows.is_empty() {
            return Err(Fail::corrupt(format!("a take in one statement wrote {written} jobs")));
        }
        // The decision is the domain's: the job as it was read must start as written.
        let state = row
            .state()
            .start(now)
            .filter(|state| StateChange::new(state, now) == change)
            .ok_or_else(|| Fail::corrupt("a job taken in one statement was not pending as the domain says"))?;
        events.pending(moved(&row, &state));
        let taken = row.started_by(daemon, &state, now);
        let tags = self.index.tag_sets(conn, vec![taken.tag_set_id])?;
        let job = taken.into_domain(&tags, &HashMap::from([(daemon, name.clone())]))?;
        let seen = SeenDaemon {
            organization: by.organization,
            tag_set: by.tag_set,
            name,
            // Only choosing among the batch's daemons reads it, which is done.
            offered: Vec::new(),
            last_seen_at: last_seen_at.0,
        };
        self.steps.taken_in_one.fetch_add(1, Ordering::Relaxed);
        Ok(Some(((Vec::new(), vec![Some(Some(job))]), HashMap::from([(daemon, seen)]))))
    }
}
