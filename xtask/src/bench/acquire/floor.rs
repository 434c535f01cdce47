//! The yardstick for `bench acquire`: the least the database can do for one job, with no
//! HTTP, no server and no authentication. Each daemon is a thread with its own connection
//! that takes the oldest pending job of its organization and completes it, marking itself
//! seen both times, until the queue is empty. On PostgreSQL each of the two is one
//! autocommit statement that also sends the job's notice, as other servers need; on SQLite
//! each is one `BEGIN IMMEDIATE` transaction of two statements (it has no `UPDATE` in a
//! `WITH`), committed on its own. Nobody listens to the notices: no server runs.

use std::thread;
use std::time::Instant;

use anyhow::{Context, bail};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::Text;
use storage::DatabaseUrl;
use uuid::Uuid;

use super::Worked;

/// Takes the oldest pending job, skipping one another daemon is taking; `$1` the daemon,
/// `$2` its organization.
const TAKE_PG: &str = "\
WITH seen AS (UPDATE provisioner_daemons SET last_seen_at = now() WHERE id = $1::uuid), \
taken AS (UPDATE provisioner_jobs SET status = 'running', started_at = now(), updated_at = now(), worker_id = $1::uuid \
  WHERE id = (SELECT id FROM provisioner_jobs WHERE organization_id = $2::uuid AND status = 'pending' \
              ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
  RETURNING id, organization_id, created_at, tag_set_id, provisioner) \
SELECT taken.id::text AS id FROM taken CROSS JOIN LATERAL (SELECT pg_notify('api_provisioner_pending', \
  concat_ws(' ', '-' || organization_id, id, created_at, tag_set_id, provisioner))) AS told";

/// Completes the daemon's running job `$2`.
const COMPLETE_PG: &str = "\
WITH seen AS (UPDATE provisioner_daemons SET last_seen_at = now() WHERE id = $1::uuid), \
done AS (UPDATE provisioner_jobs SET status = 'succeeded', completed_at = now(), updated_at = now() \
  WHERE id = $2::uuid AND worker_id = $1::uuid AND status = 'running' RETURNING id) \
SELECT done.id::text AS id FROM done CROSS JOIN LATERAL (SELECT pg_notify('api_provisioner_job', done.id::text)) AS told";

/// SQLite's clock, spelled into the statements below when they are compiled, so that the
/// timed loop does no formatting.
macro_rules! sqlite_now {
    () => {
        "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    };
}

const SEEN_SQLITE: &str = concat!("UPDATE provisioner_daemons SET last_seen_at = ", sqlite_now!(), " WHERE id = ?1");

const TAKE_SQLITE: &str = concat!(
    "UPDATE provisioner_jobs SET status = 'running', started_at = ",
    sqlite_now!(),
    ", updated_at = ",
    sqlite_now!(),
    ", worker_id = ?1 WHERE id = (SELECT id FROM provisioner_jobs WHERE organization_id = ?2 \
     AND status = 'pending' ORDER BY created_at, id LIMIT 1) RETURNING id"
);

const COMPLETE_SQLITE: &str = concat!(
    "UPDATE provisioner_jobs SET status = 'succeeded', completed_at = ",
    sqlite_now!(),
    ", updated_at = ",
    sqlite_now!(),
    " WHERE id = ?2 AND worker_id = ?1 AND status = 'running' RETURNING id"
);

#[derive(QueryableByName)]
struct Changed {
    #[diesel(sql_type = Text)]
    id: String,
}

/// One daemon's connection, on either database.
enum Conn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl Conn {
    fn open(url: &str) -> anyhow::Result<Self> {
        Ok(match DatabaseUrl::parse(url)? {
            DatabaseUrl::Postgres(url) => Self::Postgres(PgConnection::establish(url.connecting())?),
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                conn.batch_execute(storage::SQLITE_PRAGMAS)?;
                Self::Sqlite(conn)
            }
        })
    }

    /// The job the daemon took, if any was left.
    fn take(&mut self, daemon: &str, organization: &str) -> QueryResult<Option<Changed>> {
        match self {
            Self::Postgres(conn) => {
                sql_query(TAKE_PG).bind::<Text, _>(daemon).bind::<Text, _>(organization).get_result(conn).optional()
            }
            Self::Sqlite(conn) => conn.immediate_transaction(|conn| {
                seen_sqlite(conn, daemon)?;
                sql_query(TAKE_SQLITE).bind::<Text, _>(daemon).bind::<Text, _>(organization).get_result(conn).optional()
            }),
        }
    }

    fn complete(&mut self, daemon: &str, job: &str) -> QueryResult<Changed> {
        match self {
            Self::Postgres(conn) => {
                sql_query(COMPLETE_PG).bind::<Text, _>(daemon).bind::<Text, _>(job).get_result(conn)
            }
            Self::Sqlite(conn) => conn.immediate_transaction(|conn| {
                seen_sqlite(conn, daemon)?;
                sql_query(COMPLETE_SQLITE).bind::<Text, _>(daemon).bind::<Text, _>(job).get_result(conn)
            }),
        }
    }
}

fn seen_sqlite(conn: &mut SqliteConnection, daemon: &str) -> QueryResult<usize> {
    sql_query(SEEN_SQLITE).bind::<Text, _>(daemon).execute(conn)
}

/// Drains the queue of `organization` with one thread per daemon.
pub(super) fn drain(url: &str, organization: Uuid, daemons: &[Uuid]) -> anyhow::Result<Vec<Worked>> {
    let conns: Vec<Conn> = daemons.iter().map(|_| Conn::open(url)).collect::<anyhow::Result<_>>()?;
    let organization = organization.hyphenated().to_string();
    let started = Instant::now();
    thread::scope(|scope| {
        let loops: Vec<_> = conns
            .into_iter()
            .zip(daemons)
            .map(|(conn, daemon)| {
                let organization = &organization;
                scope.spawn(move || work(conn, &daemon.hyphenated().to_string(), organization, started))
            })
            .collect();
        loops.into_iter().map(|one| one.join().map_err(|_| anyhow::anyhow!("a daemon thread panicked"))?).collect()
    })
}

fn work(mut conn: Conn, daemon: &str, organization: &str, started: Instant) -> anyhow::Result<Worked> {
    let mut worked = Worked::default();
    loop {
        let asked = Instant::now();
        let Some(taken) = conn.take(daemon, organization).context("taking a job")? else {
            break;
        };
        worked.latencies.push(asked.elapsed());
        let done = conn.complete(daemon, &taken.id).context("completing a job")?;
        if done.id != taken.id {
            bail!("completed {} instead of {}", done.id, taken.id);
        }
        worked.taken.push(Uuid::try_parse(&taken.id)?);
    }
    worked.finished = started.elapsed();
    Ok(worked)
}
