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
        AnyConnection::Sqlite(_) => Ok(conn.run_pending_migrations(SQLITE)?.len()),
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
