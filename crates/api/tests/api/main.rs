//! The API over real HTTP, against the real server on SQLite and PostgreSQL.

mod harness;

mod auth;
mod binary;
mod failures;
mod lifecycle;
mod matrix;
mod members;
mod openapi;
mod organizations;
mod provisioner_jobs;
mod provisioner_keys;
mod swagger;
mod tokens;
mod upgrade;
mod users;
