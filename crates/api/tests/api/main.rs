//! The API over real HTTP, against the real server on SQLite and PostgreSQL.

mod harness;

mod auth;
mod members;
mod organizations;
mod tokens;
mod users;
