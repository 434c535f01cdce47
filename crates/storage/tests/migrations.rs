//! The upgrade from the first release's schema, both ways, on both backends: a populated
//! database goes up (every row readable through the store), down (every row as it was,
//! the schema as the first release made it) and up again (the schema as a fresh install's).

use std::collections::BTreeMap;

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::Text;
use domain::membership::{OrgRole, SiteRole};
use domain::organization::OrganizationRef;
use domain::provisioner::ProvisionerType;
use domain::repo::{DaemonFilter, DaemonRepo, MembershipRepo, OrganizationRepo, UserLookup, UserRepo};
use storage::conn::AnyConnection;
use storage::migrate;
use storage::testing::previous_release::{PreviousRelease, VERSION};
use storage::testing::{Backend, TestDatabase};
use storage::{PoolOptions, Store};

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

fn lines(conn: &mut AnyConnection, sql: &str) -> Vec<String> {
    let rows: Vec<Line> = match conn {
        AnyConnection::Postgresql(conn) => diesel::sql_query(sql).load(conn),
        AnyConnection::Sqlite(conn) => diesel::sql_query(sql).load(conn),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut lines: Vec<String> = rows.into_iter().map(|row| row.line).collect();
    lines.sort();
    lines
}

/// Everything the schema is made of, one line per column, index and constraint, in an
/// order that does not depend on the order things were created in.
fn catalogue(conn: &mut AnyConnection) -> Vec<String> {
    let queries: &[&str] = match conn {
        AnyConnection::Postgresql(_) => &[
            "SELECT concat_ws(' ', 'column', table_name, column_name, data_type, is_nullable, column_default) AS line \
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE '\\_\\_%'",
            "SELECT concat_ws(' ', 'index', indexname, indexdef) AS line FROM pg_indexes \
             WHERE schemaname = 'public' AND tablename NOT LIKE '\\_\\_%'",
            "SELECT concat_ws(' ', 'constraint', conrelid::regclass::text, conname, pg_get_constraintdef(oid)) AS line \
             FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE '\\_\\_%'",
            "SELECT concat_ws(' ', 'trigger', tgrelid::regclass::text, tgname, pg_get_triggerdef(oid)) AS line \
             FROM pg_trigger WHERE NOT tgisinternal",
            "SELECT concat_ws(' ', 'function', proname, pg_get_function_identity_arguments(oid)) AS line \
             FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
        ],
        AnyConnection::Sqlite(_) => &[
            "SELECT 'column ' || m.name || ' ' || p.name || ' ' || p.type || ' ' || p.\"notnull\" || ' ' || \
                    coalesce(p.dflt_value, '-') || ' ' || p.pk AS line \
             FROM sqlite_schema m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE '\\_\\_%' ESCAPE '\\' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
            "SELECT 'index ' || name || ' ' || coalesce(sql, tbl_name) AS line FROM sqlite_schema \
             WHERE type = 'index' AND tbl_name NOT LIKE '\\_\\_%' ESCAPE '\\'",
            "SELECT 'reference ' || m.name || ' ' || f.\"from\" || ' ' || f.\"table\" || ' ' || f.\"to\" || ' ' || \
                    f.on_delete AS line \
             FROM sqlite_schema m JOIN pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
            "SELECT 'strict ' || name || ' ' || strict AS line FROM pragma_table_list \
             WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                   AND name NOT LIKE '\\_\\_%' ESCAPE '\\'",
        ],
    };
    queries.iter().flat_map(|sql| lines(conn, sql)).collect()
}

#[derive(QueryableByName)]
struct ColumnName {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

/// Every row of every table, as text, JSON documents compared by content (PostgreSQL's
/// `jsonb` does not keep the original spacing).
fn contents(conn: &mut AnyConnection) -> BTreeMap<String, Vec<String>> {
    let sql = match conn {
        AnyConnection::Postgresql(_) => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name NOT LIKE '\\_\\_%' ORDER BY table_name, column_name"
        }
        AnyConnection::Sqlite(_) => {
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_schema m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE '\\_\\_%' ESCAPE '\\' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
             ORDER BY m.name, p.name"
        }
    };
    let columns: Vec<ColumnName> = match conn {
        AnyConnection::Postgresql(conn) => diesel::sql_query(sql).load(conn),
        AnyConnection::Sqlite(conn) => diesel::sql_query(sql).load(conn),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let mut tables: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for column in columns {
        tables.entry(column.table_name).or_default().push(column.column_name);
    }
    let postgres = matches!(conn, AnyConnection::Postgresql(_));
    tables
        .into_iter()
        .map(|(table, columns)| {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| {
                    if postgres {
                        format!("\"{c}\"::text")
                    } else {
                        format!("CASE typeof(\"{c}\") WHEN 'blob' THEN hex(\"{c}\") ELSE CAST(\"{c}\" AS TEXT) END")
                    }
                })
                .collect();
            let row = if postgres {
                format!("json_build_array({})::text", cells.join(", "))
            } else {
                format!("json_array({})", cells.join(", "))
            };
            let rows = lines(conn, &format!("SELECT {row} AS line FROM \"{table}\""));
            let rows = rows
                .into_iter()
                .map(|row| {
                    let cells: Vec<serde_json::Value> = serde_json::from_str(&row).unwrap_or_default();
                    let cells: Vec<serde_json::Value> = cells
                        .into_iter()
                        .map(|cell| match cell.as_str().map(serde_json::from_str::<serde_json::Value>) {
                            Some(Ok(document @ serde_json::Value::Object(_))) => document,
                            _ => cell,
                        })
                        .collect();
                    serde_json::Value::Array(cells).to_string()
                })
                .collect();
            (format!("{table} ({})", columns.join(", ")), rows)
        })
        .collect()
}

fn previous_release(backend: Backend) -> Option<(TestDatabase, PreviousRelease)> {
    let db = TestDatabase::new(backend)?;
    let release = PreviousRelease::create(&db, "not-a-real-hash");
    Some((db, release))
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { if let Some((db, release)) = super::previous_release(storage::testing::Backend::Sqlite) { super::$name(db, release) } })*
        }
        mod postgres {
            $(#[test] fn $name() { if let Some((db, release)) = super::previous_release(storage::testing::Backend::Postgres) { super::$name(db, release) } })*
        }
    };
}

on_both_backends!(
    an_upgraded_database_reads_back_through_the_store,
    the_upgrade_reverts_to_the_same_rows_and_schema_and_applies_again,
);

fn an_upgraded_database_reads_back_through_the_store(db: TestDatabase, release: PreviousRelease) {
    // The server upgrades on start.
    let store = Store::open(db.url(), PoolOptions::default(), Utc::now()).unwrap_or_else(|e| panic!("{e}"));
    let owner = store.user(&UserLookup::Id(release.owner)).unwrap_or_else(|e| panic!("{e}"));
    let owner = owner.unwrap_or_else(|| panic!("the owner is gone"));
    assert_eq!(owner.site_roles, vec![SiteRole::Owner]);
    let mut joined: Vec<_> = vec![release.default_organization, release.acme];
    joined.sort();
    assert_eq!(owner.organization_ids().collect::<Vec<_>>(), joined);
    let members = store.members(release.acme).unwrap_or_else(|e| panic!("{e}"));
    let roles: Vec<(String, Vec<OrgRole>)> =
        members.into_iter().map(|m| (m.user.username, m.membership.roles)).collect();
    assert_eq!(
        roles,
        vec![
            ("admin".to_owned(), vec![OrgRole::OrganizationAdmin]),
            ("member".to_owned(), vec![]),
            ("owner".to_owned(), vec![]),
        ]
    );
    let daemons = store.daemons(release.acme, &DaemonFilter::default()).unwrap_or_else(|e| panic!("{e}"));
    let offered: Vec<Vec<ProvisionerType>> = daemons.iter().map(|d| d.provisioners.clone()).collect();
    let expected =
        ["echo", "terraform"].map(|p| ProvisionerType::parse("provisioners", p).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(offered, vec![expected.to_vec()]);
    assert_eq!(daemons[0].tags, release.linux_tags);
    for deleted in release.deleted_organizations {
        assert_eq!(store.organization(&OrganizationRef::Id(deleted)).unwrap_or_else(|e| panic!("{e}")), None);
    }
    assert_eq!(store.user(&UserLookup::Id(release.deleted_user)).unwrap_or_else(|e| panic!("{e}")), None);
}

fn the_upgrade_reverts_to_the_same_rows_and_schema_and_applies_again(db: TestDatabase, _: PreviousRelease) {
    let mut conn = db.connect().unwrap_or_else(|e| panic!("{e}"));
    let (old_schema, old_rows) = (catalogue(&mut conn), contents(&mut conn));

    assert!(migrate::run(&mut conn).unwrap_or_else(|e| panic!("up: {e}")) > 0);
    let upgraded = catalogue(&mut conn);
    assert!(migrate::revert_after(&mut conn, VERSION).unwrap_or_else(|e| panic!("down: {e}")) > 0);
    assert_eq!(catalogue(&mut conn), old_schema, "the schema after the way down");
    assert_eq!(contents(&mut conn), old_rows, "the rows after the way down");

    migrate::run(&mut conn).unwrap_or_else(|e| panic!("up again: {e}"));
    assert_eq!(catalogue(&mut conn), upgraded, "the schema after going up again");
    let fresh = TestDatabase::new(db.backend()).unwrap_or_else(|| panic!("no second database"));
    let mut fresh_conn = fresh.connect().unwrap_or_else(|e| panic!("{e}"));
    migrate::run(&mut fresh_conn).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(catalogue(&mut fresh_conn), upgraded, "an upgraded schema is a fresh install's");
}
