//! The daemon library and the `provisionerd` binary against the real server, over real
//! HTTP, on SQLite and PostgreSQL.

mod harness;

mod binary;
mod client;
