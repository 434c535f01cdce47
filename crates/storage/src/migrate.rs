//! The schema migrations, embedded in the binary, one set per backend.

use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::conn::AnyConnection;

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Any `pg_advisory_lock` key will do as long as it is ours alone: several servers starting
/// at once on one PostgreSQL take turns instead of racing to create the same tables.
const MIGRATION_LOCK: i64 = 0x6170_695f_6d69_6772;

pub type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// Brings the schema up to date; returns how many migrations ran.
pub fn run(conn: &mut AnyConnection) -> Result<usize, MigrationError> {
    match conn {
        AnyConnection::Sqlite(_) => without_foreign_keys(conn, |conn| Ok(conn.run_pending_migrations(SQLITE)?.len())),
        AnyConnection::Postgresql(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let ran = conn.run_pending_migrations(POSTGRES).map(|done| done.len());
            if let AnyConnection::Postgresql(pg) = conn {
                pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            }
            Ok(ran?)
        }
    }
}

/// Applies pending migrations up to and including `version` (`2026-11-28-000001`...): a
/// database as an older release left it.
pub fn run_until(conn: &mut AnyConnection, version: &str) -> Result<usize, MigrationError> {
    let mut ran = 0;
    loop {
        let pending = match conn {
            AnyConnection::Sqlite(_) => conn.pending_migrations(SQLITE)?,
            AnyConnection::Postgresql(_) => conn.pending_migrations(POSTGRES)?,
        };
        let Some(next) = pending.first() else {
            return Ok(ran);
        };
        if digits(&next.name().version().to_string()) > digits(version) {
            return Ok(ran);
        }
        without_foreign_keys(conn, |conn| conn.run_migration(next.as_ref()).map(drop))?;
        ran += 1;
    }
}

/// Reverts applied migrations newer than `version`, newest first (their `down.sql`).
pub fn revert_after(conn: &mut AnyConnection, version: &str) -> Result<usize, MigrationError> {
    let mut reverted = 0;
    loop {
        let applied = conn.applied_migrations()?;
        let Some(newest) = applied.iter().max() else {
            return Ok(reverted);
        };
        if digits(&newest.to_string()) <= digits(version) {
            return Ok(reverted);
        }
        without_foreign_keys(conn, |conn| {
            match conn {
                AnyConnection::Sqlite(_) => conn.revert_last_migration(SQLITE)?,
                AnyConnection::Postgresql(_) => conn.revert_last_migration(POSTGRES)?,
            };
            Ok(())
        })?;
        reverted += 1;
    }
}

/// A migration version as its digits: `2026-11-28-000001` and diesel's `20261128000001` alike.
fn digits(version: &str) -> String {
    version.chars().filter(char::is_ascii_digit).collect()
}

/// SQLite changes a table by building a new one and copying its rows, which enforced
/// foreign keys forbid while other rows point at it. They can only be switched off outside
/// a transaction, so around the migrations; each migration checks every reference itself
/// before it commits. PostgreSQL alters tables in place: nothing to do.
fn without_foreign_keys<T>(
    conn: &mut AnyConnection,
    migrate: impl FnOnce(&mut AnyConnection) -> Result<T, MigrationError>,
) -> Result<T, MigrationError> {
    let AnyConnection::Sqlite(sqlite) = conn else {
        return migrate(conn);
    };
    sqlite.batch_execute("PRAGMA foreign_keys = OFF")?;
    let result = migrate(conn);
    if let AnyConnection::Sqlite(sqlite) = conn {
        sqlite.batch_execute("PRAGMA foreign_keys = ON")?;
    }
    result
}
