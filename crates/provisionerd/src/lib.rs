//! The provisioner daemon protocol of the `api` server, as a typed Rust client, and the
//! reference daemon built on it.
//!
//! A daemon signs in with a provisioner key (the key decides its organization and tags) and
//! speaks JSON over plain HTTP:
//!
//! | call | route | answer |
//! |---|---|---|
//! | [`Client::register`] | `POST /api/v2/provisionerdaemons` | the daemon, with its id |
//! | [`Client::heartbeat`] | `POST .../{daemon}/heartbeat` | nothing; the daemon stays online |
//! | [`Client::acquire`] | `POST .../{daemon}/acquire?timeout=` | the oldest job it may run, or `None` after the wait |
//! | [`Client::update`] | `POST .../{daemon}/jobs/{job}/update` | whether cancellation was asked for |
//! | [`Client::complete`] | `POST .../{daemon}/jobs/{job}/complete` | the job, `succeeded` or `canceled` |
//! | [`Client::fail`] | `POST .../{daemon}/jobs/{job}/fail` | the job, `failed` |
//!
//! A refusal comes back as [`Error::Api`] with the server's status and
//! `{message, detail, validations}`.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use provisionerd::wire::{Log, LogLevel, RegisterRequest};
//! use provisionerd::Client;
//!
//! # async fn example() -> Result<(), provisionerd::Error> {
//! let client = Client::new("http://127.0.0.1:3000", "the provisioner key")?;
//! let request = RegisterRequest { name: "worker-1".into(), provisioners: vec!["echo".into()], version: "1".into() };
//! let daemon = client.register(&request).await?;
//! if let Some(job) = client.acquire(daemon.id, Duration::from_secs(30)).await? {
//!     let progress = client.update(daemon.id, job.id, vec![Log::provisioner(LogLevel::Info, "plan", "hello")]).await?;
//!     if !progress.canceled {
//!         // ... the work itself ...
//!     }
//!     client.complete(daemon.id, job.id).await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`echo::EchoDaemon`] is a whole daemon on these calls: the `provisionerd` binary of this crate.

#![warn(missing_docs)]

mod client;
pub mod echo;
pub mod wire;

pub use client::{Client, DAEMON_KEY_HEADER, Error, MAX_ACQUIRE_WAIT};
