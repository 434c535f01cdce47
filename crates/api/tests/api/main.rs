//! The API over real HTTP, against the real server on SQLite and PostgreSQL.

mod harness;

mod auth;
mod binary;
mod failures;
mod health;
mod lifecycle;
mod matrix;
mod members;
mod metrics;
mod nul_bytes;
mod openapi;
mod operations;
mod organizations;
mod provisioner_jobs;
mod provisioner_keys;
mod rate_limits;
mod slow_bodies;
mod swagger;
mod tokens;
mod upgrade;
mod users;
