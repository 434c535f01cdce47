//! The migrated schema, read from each database's own catalogue: it is what `schema.rs`
//! says, column by column; SQLite's tables are STRICT; and every closed set is refused
//! outside its values by the database itself, on both backends.

use std::collections::BTreeMap;

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use storage::conn::AnyConnection;
use storage::testing::{Backend, TestDatabase};
use storage::{PoolOptions, Store};

/// One column as a catalogue or `schema.rs` describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    name: String,
    /// The type as the database names it.
    sql_type: String,
    nullable: bool,
}

/// A table: its columns in order and its primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Table {
    columns: Vec<Column>,
    primary_key: Vec<String>,
}

/// What each of `schema.rs`'s types is called in each database's catalogue.
fn catalogue_type(backend: Backend, schema_type: &str) -> String {
    let (postgres, sqlite) = match schema_type {
        "Uuid" => ("uuid", "TEXT"),
        "UtcTimestamp" => ("timestamptz", "TEXT"),
        "Jsonb" => ("jsonb", "TEXT"),
        "Text" => ("text", "TEXT"),
        "BigInt" => ("int8", "INTEGER"),
        "Binary" => ("bytea", "BLOB"),
        "Bool" => ("bool", "INTEGER"),
        other => panic!("schema.rs uses {other}: say what each database calls it"),
    };
    match backend {
        Backend::Postgres => postgres.to_owned(),
        Backend::Sqlite => sqlite.to_owned(),
    }
}

/// The tables `schema.rs` declares, read from its text: `name (key, ...) { column -> Type, }`.
fn declared(backend: Backend) -> BTreeMap<String, Table> {
    let source = include_str!("../src/schema.rs");
    let mut tables = BTreeMap::new();
    let mut current: Option<(String, Table)> = None;
    for line in source.lines().map(str::trim) {
        if let Some((name, key)) = line.strip_suffix('{').and_then(|head| head.trim().split_once('(')) {
            let primary_key = key.trim().trim_end_matches(')').split(',').map(|c| c.trim().to_owned()).collect();
            current = Some((name.trim().to_owned(), Table { columns: vec![], primary_key }));
        } else if let Some((column, sql_type)) = line.strip_suffix(',').and_then(|l| l.split_once(" -> ")) {
            let (_, table) = current.as_mut().unwrap_or_else(|| panic!("a column outside a table: {line}"));
            let (nullable, sql_type) = match sql_type.strip_prefix("Nullable<").and_then(|t| t.strip_suffix('>')) {
                Some(inner) => (true, inner),
                None => (false, sql_type),
            };
            table.columns.push(Column {
                name: column.to_owned(),
                sql_type: catalogue_type(backend, sql_type),
                nullable,
            });
        } else if line == "}"
            && let Some((name, table)) = current.take()
        {
            tables.insert(name, table);
        }
    }
    assert!(tables.len() >= 12, "schema.rs was not read: {tables:?}");
    tables
}

#[derive(QueryableByName)]
struct CatalogueColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    sql_type: String,
    #[diesel(sql_type = BigInt)]
    nullable: i64,
    /// Position in the primary key, 0 when not in it.
    #[diesel(sql_type = BigInt)]
    key_position: i64,
}

/// The tables as the migrated database's catalogue describes them (diesel's bookkeeping
/// left out).
fn migrated(db: &TestDatabase) -> BTreeMap<String, Table> {
    let rows: Vec<CatalogueColumn> = match db.connect().unwrap_or_else(|e| panic!("{e}")) {
        AnyConnection::Postgresql(mut conn) => diesel::sql_query(
            "SELECT c.relname::text AS table_name, a.attname::text AS column_name, t.typname::text AS sql_type, \
                    (NOT a.attnotnull)::int::int8 AS nullable, \
                    coalesce(array_position(k.conkey, a.attnum), 0)::int8 AS key_position \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid \
                  JOIN pg_namespace n ON n.oid = c.relnamespace \
                  LEFT JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'p' \
             WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped \
                   AND c.relname NOT LIKE '\\_\\_%' \
             ORDER BY c.relname, a.attnum",
        )
        .load(&mut conn),
        AnyConnection::Sqlite(mut conn) => diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name, p.type AS sql_type, \
                    (p.\"notnull\" = 0 AND NOT (p.pk > 0 AND p.type = 'INTEGER')) AS nullable, p.pk AS key_position \
             FROM sqlite_schema m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE '\\_\\_%' ESCAPE '\\' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             ORDER BY m.name, p.cid",
        )
        .load(&mut conn),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut keys: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for row in rows {
        let table = tables.entry(row.table_name.clone()).or_insert(Table { columns: vec![], primary_key: vec![] });
        table.columns.push(Column {
            name: row.column_name.clone(),
            sql_type: row.sql_type,
            nullable: row.nullable != 0,
        });
        if row.key_position > 0 {
            keys.entry(row.table_name).or_default().push((row.key_position, row.column_name));
        }
    }
    for (name, mut key) in keys {
        key.sort();
        if let Some(table) = tables.get_mut(&name) {
            table.primary_key = key.into_iter().map(|(_, column)| column).collect();
        }
    }
    tables
}

fn migrated_database(backend: Backend) -> Option<TestDatabase> {
    let db = TestDatabase::new(backend)?;
    Store::open(db.url(), PoolOptions::default(), Utc::now()).unwrap_or_else(|e| panic!("{e}"));
    Some(db)
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { if let Some(db) = super::migrated_database(storage::testing::Backend::Sqlite) { super::$name(db) } })*
        }
        mod postgres {
            $(#[test] fn $name() { if let Some(db) = super::migrated_database(storage::testing::Backend::Postgres) { super::$name(db) } })*
        }
    };
}

on_both_backends!(
    every_column_is_what_schema_rs_says,
    closed_sets_are_refused_outside_their_values,
    closed_sets_accept_every_value_the_domain_writes,
    references_to_missing_rows_are_refused,
);

fn every_column_is_what_schema_rs_says(db: TestDatabase) {
    let declared = declared(db.backend());
    let migrated = migrated(&db);
    assert_eq!(migrated.keys().collect::<Vec<_>>(), declared.keys().collect::<Vec<_>>(), "tables");
    for (name, table) in &declared {
        assert_eq!(migrated.get(name), Some(table), "table {name}: the database, then schema.rs");
    }
}

/// `(what, statement)` pairs that must each be refused.
fn out_of_set_writes() -> Vec<(&'static str, String)> {
    let user = "'01900000-0000-7000-8000-000000000001'";
    let job = "'01900000-0000-7000-8000-0000000000a1'";
    vec![
        ("user status", format!("UPDATE users SET status = 'banned' WHERE id = {user}")),
        ("site role", format!("INSERT INTO user_site_roles (user_id, role) VALUES ({user}, 'template-admin')")),
        (
            "organization role",
            format!(
                "INSERT INTO organization_member_roles (organization_id, user_id, role) \
                 SELECT organization_id, user_id, 'owner' FROM organization_members WHERE user_id = {user}"
            ),
        ),
        ("job status", format!("UPDATE provisioner_jobs SET status = 'exploded' WHERE id = {job}")),
        ("job status unknown", format!("UPDATE provisioner_jobs SET status = 'unknown' WHERE id = {job}")),
        ("job type", format!("UPDATE provisioner_jobs SET job_type = 'deploy' WHERE id = {job}")),
        ("job provisioner", format!("UPDATE provisioner_jobs SET provisioner = 'ansible' WHERE id = {job}")),
        ("job error code", format!("UPDATE provisioner_jobs SET error_code = 'OOPS' WHERE id = {job}")),
        ("job input", format!("UPDATE provisioner_jobs SET input = '[1]' WHERE id = {job}")),
        ("job log count", format!("UPDATE provisioner_jobs SET logs_length = -1 WHERE id = {job}")),
        ("log level", format!("UPDATE provisioner_job_logs SET level = 'fatal' WHERE job_id = {job}")),
        ("log source", format!("UPDATE provisioner_job_logs SET source = 'kernel' WHERE job_id = {job}")),
        ("login type", format!("UPDATE api_keys SET login_type = 'oidc' WHERE user_id = {user}")),
        (
            "daemon provisioner",
            "INSERT INTO provisioner_daemon_provisioners (daemon_id, provisioner) \
             SELECT id, 'ansible' FROM provisioner_daemons"
                .to_owned(),
        ),
        ("tag set", "UPDATE provisioner_tag_sets SET tags = '\"linux\"'".to_owned()),
    ]
}

fn closed_sets_are_refused_outside_their_values(db: TestDatabase) {
    let fixture = fixture(&db);
    for (what, statement) in out_of_set_writes() {
        let refused = db.try_execute(&statement);
        assert!(refused.is_err(), "{what}: the database accepted {statement}");
    }
    // Still there, unchanged.
    assert_eq!(fixture.statuses(&db), vec!["pending".to_owned()]);
}

fn closed_sets_accept_every_value_the_domain_writes(db: TestDatabase) {
    let _fixture = fixture(&db);
    let job = "'01900000-0000-7000-8000-0000000000a1'";
    use domain::provisioner::{JobErrorCode, JobStatus, JobType, LogLevel, LogSource};
    let statuses = JobStatus::ALL.into_iter().filter(|status| *status != JobStatus::Unknown);
    let mut statements: Vec<String> =
        statuses.map(|s| format!("UPDATE provisioner_jobs SET status = '{}' WHERE id = {job}", s.as_str())).collect();
    statements.extend(
        JobType::ALL.map(|t| format!("UPDATE provisioner_jobs SET job_type = '{}' WHERE id = {job}", t.as_str())),
    );
    statements.extend(
        [JobErrorCode::RequiredTemplateVariables, JobErrorCode::InsufficientQuota]
            .map(|c| format!("UPDATE provisioner_jobs SET error_code = '{}' WHERE id = {job}", c.as_str())),
    );
    statements.extend(
        [LogLevel::Trace, LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error]
            .map(|l| format!("UPDATE provisioner_job_logs SET level = '{}' WHERE job_id = {job}", l.as_str())),
    );
    statements.extend(
        [LogSource::Provisioner, LogSource::ProvisionerDaemon]
            .map(|s| format!("UPDATE provisioner_job_logs SET source = '{}' WHERE job_id = {job}", s.as_str())),
    );
    for statement in statements {
        db.try_execute(&statement).unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

fn references_to_missing_rows_are_refused(db: TestDatabase) {
    let _fixture = fixture(&db);
    let refused = db.try_execute(
        "UPDATE provisioner_jobs SET organization_id = '01900000-0000-7000-8000-00000000dead' \
         WHERE id = '01900000-0000-7000-8000-0000000000a1'",
    );
    assert!(refused.is_err(), "a job was moved to an organization that does not exist");
}

/// One user, member of the default organization, with a token, a job with a log line, a
/// daemon with its key: rows for every check to aim at, written as the server would.
struct Fixture;

impl Fixture {
    fn statuses(&self, db: &TestDatabase) -> Vec<String> {
        #[derive(QueryableByName)]
        struct Status {
            #[diesel(sql_type = Text)]
            status: String,
        }
        let rows: Vec<Status> = match db.connect().unwrap_or_else(|e| panic!("{e}")) {
            AnyConnection::Postgresql(mut conn) => {
                diesel::sql_query("SELECT status FROM provisioner_jobs").load(&mut conn)
            }
            AnyConnection::Sqlite(mut conn) => diesel::sql_query("SELECT status FROM provisioner_jobs").load(&mut conn),
        }
        .unwrap_or_else(|e| panic!("{e}"));
        rows.into_iter().map(|row| row.status).collect()
    }
}

fn fixture(db: &TestDatabase) -> Fixture {
    let hash = match db.backend() {
        Backend::Postgres => "'\\x00'::bytea",
        Backend::Sqlite => "X'00'",
    };
    db.execute(&format!(
        "INSERT INTO users (id, email, username, name, hashed_password, status, created_at, updated_at, last_seen_at) \
         VALUES ('01900000-0000-7000-8000-000000000001', 'a@example.com', 'a', '', 'x', 'active', \
                 '2026-11-28 10:00:00', '2026-11-28 10:00:00', '2026-11-28 10:00:00'); \
         INSERT INTO organization_members (organization_id, user_id, created_at, updated_at) \
         SELECT id, '01900000-0000-7000-8000-000000000001', created_at, created_at FROM organizations; \
         INSERT INTO api_keys (id, hashed_secret, user_id, login_type, token_name, lifetime_seconds, expires_at, \
                               last_used, created_at, updated_at) \
         VALUES ('abcdefghij', {hash}, '01900000-0000-7000-8000-000000000001', 'token', 't', 60, \
                 '2026-11-29 10:00:00', '2026-11-28 10:00:00', '2026-11-28 10:00:00', '2026-11-28 10:00:00'); \
         INSERT INTO provisioner_tag_sets (id, tags) \
         VALUES ('107ca86e-005b-03b8-21db-aab87caa6474', '{{\"owner\":\"\",\"scope\":\"organization\"}}'); \
         INSERT INTO provisioner_keys (id, organization_id, name, hashed_secret, tag_set_id, created_at) \
         SELECT '01900000-0000-7000-8000-0000000000b1', id, 'k', {hash}, '107ca86e-005b-03b8-21db-aab87caa6474', \
                created_at FROM organizations; \
         INSERT INTO provisioner_daemons (id, organization_id, key_id, name, version, api_version, tag_set_id, \
                                          created_at, last_seen_at) \
         SELECT '01900000-0000-7000-8000-0000000000c1', organization_id, id, 'd', 'v', '1.0', tag_set_id, \
                created_at, created_at FROM provisioner_keys; \
         INSERT INTO provisioner_daemon_provisioners (daemon_id, provisioner) \
         VALUES ('01900000-0000-7000-8000-0000000000c1', 'echo'); \
         INSERT INTO provisioner_jobs (id, organization_id, initiator_id, created_at, updated_at, status, job_type, \
                                       provisioner, tag_set_id, input, metadata) \
         SELECT '01900000-0000-7000-8000-0000000000a1', id, '01900000-0000-7000-8000-000000000001', created_at, \
                created_at, 'pending', 'workspace_build', 'echo', '107ca86e-005b-03b8-21db-aab87caa6474', '{{}}', '{{}}' \
         FROM organizations; \
         INSERT INTO provisioner_job_logs (job_id, created_at, source, level, stage, output) \
         VALUES ('01900000-0000-7000-8000-0000000000a1', '2026-11-28 10:00:00', 'provisioner', 'info', 'plan', 'ok');"
    ));
    Fixture
}

#[test]
fn sqlite_tables_are_strict_and_refuse_values_of_the_wrong_type() {
    let Some(db) = migrated_database(Backend::Sqlite) else {
        return;
    };
    #[derive(QueryableByName)]
    struct Loose {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let AnyConnection::Sqlite(mut conn) = db.connect().unwrap_or_else(|e| panic!("{e}")) else {
        panic!("not SQLite");
    };
    let loose: Vec<Loose> = diesel::sql_query(
        "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND strict = 0 \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_\\_%' ESCAPE '\\'",
    )
    .load(&mut conn)
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loose.into_iter().map(|t| t.name).collect::<Vec<_>>(), Vec::<String>::new());
    // A value of the wrong type is refused, not kept as whatever it is.
    let _fixture = fixture(&db);
    assert!(db.try_execute("UPDATE provisioner_jobs SET logs_length = 'many'").is_err(), "text kept as a count");
    assert!(db.try_execute("UPDATE users SET email = X'00'").is_err(), "bytes kept as an e-mail");
}
