//! The least this stack can do for `GET /api/v2/organizations/{id}`: actix-web, an r2d2 pool
//! of diesel connections, and one primary-key `SELECT` run in `web::block`. No
//! authentication, no middleware, no shared store layer: the floor the real server is
//! compared with.

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::r2d2::{self, ConnectionManager, CustomizeConnection};
use diesel::serialize::{self, IsNull, Output, ToSql};
use serde::Serialize;
use storage::{DatabaseUrl, PoolOptions};
use uuid::Uuid;

/// The columns the answer needs, as PostgreSQL types them.
mod pg {
    diesel::table! {
        organizations (id) {
            id -> Uuid,
            name -> Text,
            display_name -> Text,
            description -> Text,
            icon -> Text,
            is_default -> Bool,
            created_at -> Timestamptz,
            updated_at -> Timestamptz,
            deleted_at -> Nullable<Timestamptz>,
        }
    }
}

/// The same columns as SQLite keeps them: ids and instants are text.
mod sqlite {
    diesel::table! {
        organizations (id) {
            id -> Text,
            name -> Text,
            display_name -> Text,
            description -> Text,
            icon -> Text,
            is_default -> Bool,
            created_at -> Timestamp,
            updated_at -> Timestamp,
            deleted_at -> Nullable<Timestamp>,
        }
    }
}

/// A PostgreSQL `uuid`: the workspace builds diesel without its `uuid` feature.
#[derive(Debug, Clone, Copy, AsExpression, FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Uuid)]
struct PgUuid(Uuid);

impl ToSql<diesel::sql_types::Uuid, Pg> for PgUuid {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        std::io::Write::write_all(out, self.0.as_bytes())?;
        Ok(IsNull::No)
    }
}

impl FromSql<diesel::sql_types::Uuid, Pg> for PgUuid {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(Self(Uuid::from_slice(value.as_bytes())?))
    }
}

/// The answer, with the fields the real route answers.
#[derive(Serialize)]
struct Organization {
    id: Uuid,
    name: String,
    display_name: String,
    description: String,
    icon: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    is_default: bool,
}

type Row<I, T> = (I, String, String, String, String, bool, T, T);

enum Pool {
    Sqlite(r2d2::Pool<ConnectionManager<SqliteConnection>>),
    Postgres(r2d2::Pool<ConnectionManager<PgConnection>>),
}

/// The real server's per-connection settings, so that only the per-request work differs.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute(storage::SQLITE_PRAGMAS).map_err(r2d2::Error::QueryError)
    }
}

impl Pool {
    /// As many connections as the real server's pool, opened as needed as its are.
    fn open(url: &str) -> anyhow::Result<Self> {
        Ok(match DatabaseUrl::parse(url)? {
            DatabaseUrl::Sqlite(path) => Self::Sqlite(
                Self::builder()
                    .connection_customizer(Box::new(SqlitePragmas))
                    // As the real pool: an open file cannot hang up, so it is not pinged.
                    .test_on_check_out(false)
                    .build(ConnectionManager::new(path.to_string_lossy()))?,
            ),
            // The least the route needs: the real pool asks a connection nothing while it
            // answered within the last second, which under load is always.
            DatabaseUrl::Postgres(url) => Self::Postgres(
                Self::builder().test_on_check_out(false).build(ConnectionManager::new(url.connecting()))?,
            ),
        })
    }

    /// The real server's pool settings, for either connection type.
    fn builder<M: r2d2::ManageConnection>() -> r2d2::Builder<M> {
        let options = PoolOptions::default();
        r2d2::Pool::builder()
            .max_size(options.max_size)
            .min_idle(Some(0))
            .connection_timeout(options.connection_timeout)
    }

    /// The one query: the live organization with this primary key.
    fn organization(&self, id: Uuid) -> anyhow::Result<Option<Organization>> {
        let found = match self {
            Self::Sqlite(pool) => {
                use sqlite::organizations::dsl as o;
                let row: Option<Row<String, NaiveDateTime>> = o::organizations
                    .find(id.hyphenated().to_string())
                    .filter(o::deleted_at.is_null())
                    .select((
                        o::id,
                        o::name,
                        o::display_name,
                        o::description,
                        o::icon,
                        o::is_default,
                        o::created_at,
                        o::updated_at,
                    ))
                    .first(&mut pool.get()?)
                    .optional()?;
                match row {
                    Some((id, name, display_name, description, icon, is_default, created, updated)) => {
                        let id = Uuid::try_parse(&id)?;
                        Some((
                            id,
                            name,
                            display_name,
                            description,
                            icon,
                            is_default,
                            created.and_utc(),
                            updated.and_utc(),
                        ))
                    }
                    None => None,
                }
            }
            Self::Postgres(pool) => {
                use pg::organizations::dsl as o;
                let row: Option<Row<PgUuid, DateTime<Utc>>> = o::organizations
                    .find(PgUuid(id))
                    .filter(o::deleted_at.is_null())
                    .select((
                        o::id,
                        o::name,
                        o::display_name,
                        o::description,
                        o::icon,
                        o::is_default,
                        o::created_at,
                        o::updated_at,
                    ))
                    .first(&mut pool.get()?)
                    .optional()?;
                row.map(|(id, name, display_name, description, icon, is_default, created, updated)| {
                    (id.0, name, display_name, description, icon, is_default, created, updated)
                })
            }
        };
        Ok(found.map(|(id, name, display_name, description, icon, is_default, created_at, updated_at)| Organization {
            id,
            name,
            display_name,
            description,
            icon,
            created_at,
            updated_at,
            is_default,
        }))
    }
}

async fn get_organization(pool: web::Data<Pool>, id: web::Path<Uuid>) -> HttpResponse {
    let id = id.into_inner();
    match web::block(move || pool.organization(id)).await {
        Ok(Ok(Some(organization))) => HttpResponse::Ok().json(organization),
        Ok(Ok(None)) => HttpResponse::NotFound().finish(),
        Ok(Err(error)) => HttpResponse::InternalServerError().body(format!("{error:#}")),
        Err(error) => HttpResponse::InternalServerError().body(error.to_string()),
    }
}

/// The minimal server, running on its own thread.
pub struct Minimal {
    pub address: SocketAddr,
    handle: ServerHandle,
}

impl Minimal {
    /// Serves `url`'s database on 127.0.0.1, with actix's default number of workers (one
    /// per CPU), as the real server has.
    pub fn start(url: &str) -> anyhow::Result<Self> {
        let pool = web::Data::new(Pool::open(url)?);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let (ready, started) = mpsc::channel();
        thread::spawn(move || {
            let result = actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(pool.clone())
                        .route("/api/v2/organizations/{organization}", web::get().to(get_organization))
                })
                .disable_signals()
                .listen(listener);
                match server {
                    Ok(server) => {
                        let server = server.run();
                        let _ = ready.send(Ok(server.handle()));
                        server.await
                    }
                    Err(error) => {
                        let _ = ready.send(Err(anyhow::Error::from(error)));
                        Ok(())
                    }
                }
            });
            if let Err(error) = result {
                eprintln!("minimal server: {error:#}");
            }
        });
        let handle = started.recv().context("the minimal server's thread died")??;
        Ok(Self { address, handle })
    }

    /// Stops the server (waiting for it, from outside its runtime).
    pub fn stop(self) {
        actix_web::rt::System::new().block_on(self.handle.stop(false));
    }
}
