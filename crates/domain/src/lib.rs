//! The rules of a Coder-compatible organization and provisioner-job control plane.
//!
//! Everything here is pure: value types that can only hold valid values, the rules that decide
//! (name validity, default-organization protection, tag matching, job status and queue
//! positions, authorization), and the repository traits a store implements. No HTTP, no SQL,
//! no clock: a rule that needs "now" takes it as an argument.
//!
//! # Where things are
//!
//! - [`organization`], [`user`], [`membership`]: tenants, accounts and roles, with value types
//!   such as [`organization::OrganizationName`] and [`user::Username`] whose `parse` is the
//!   only way in.
//! - [`provisioner`]: jobs and their status ([`provisioner::JobState`]), tags and which daemon
//!   may run what ([`provisioner::Tags::can_run`]), queue numbers ([`provisioner::Queue`]),
//!   daemons' liveness, log budgets and the reaper's verdicts.
//! - [`authz`]: every permission as one function, [`authz::decide`], of a subject and an
//!   action; it answers allow, forbidden, or not found (for what the subject may not know of).
//! - [`auth`]: API tokens, secret hashing, sessions that slide, and why a request is refused.
//! - [`repo`]: the traits a store implements, one method per use case, each meant to run as
//!   one transaction. The `storage` crate implements them on SQLite and PostgreSQL; the
//!   `in_memory` example implements them in a few hundred lines.
//! - [`validation`] and [`time`]: field errors that know their JSON field, and time as the API
//!   writes it.
//!
//! # Example
//!
//! Which daemons may run a job, where it stands in the queue, and who may read it:
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! use chrono::{DateTime, Duration, Utc};
//! use domain::authz::{self, Action, Decision, Subject};
//! use domain::membership::OrgRole;
//! use domain::provisioner::{ProvisionerType, Queue, QueuedJob, Tags, Worker};
//! use uuid::Uuid;
//!
//! let tags = |pairs: &[(&str, &str)]| {
//!     let raw: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
//!     Tags::normalise_for_organization(raw)
//! };
//! let gpu_daemon = tags(&[("gpu", "true")])?;
//! let plain_daemon = tags(&[])?;
//! let gpu_job = tags(&[("gpu", "true")])?;
//! // A daemon's tags must hold all of the job's; an untagged job needs an untagged daemon.
//! assert!(gpu_daemon.can_run(&gpu_job) && !plain_daemon.can_run(&gpu_job));
//!
//! // Two pending jobs and one online daemon that can run both: the older job is next.
//! let echo = ProvisionerType::parse("provisioner", "echo")?;
//! let t0 = DateTime::<Utc>::UNIX_EPOCH;
//! let (first, second, daemon) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(9));
//! let pending = vec![
//!     QueuedJob { id: second, created_at: t0 + Duration::seconds(1), provisioner: &echo, tags: &gpu_job },
//!     QueuedJob { id: first, created_at: t0, provisioner: &echo, tags: &gpu_job },
//! ];
//! let provisioners = [echo.clone()];
//! let workers = vec![Worker { id: daemon, created_at: t0, provisioners: &provisioners, tags: &gpu_daemon }];
//! let queue = Queue::new(pending, workers);
//! assert_eq!((queue.info(first).position, queue.info(second).position), (1, 2));
//! assert_eq!(queue.info(second).available_workers, vec![daemon]);
//!
//! // A member reads the jobs it started; an outsider does not learn the job exists.
//! let acme = Uuid::from_u128(100);
//! let member = Subject::new(Uuid::from_u128(10), vec![], [(acme, Vec::<OrgRole>::new())]);
//! let outsider = Subject::new(Uuid::from_u128(11), vec![], []);
//! let read = Action::ReadJob { organization: acme, initiator: member.user_id };
//! assert_eq!(authz::decide(&member, read), Decision::Allow);
//! assert_eq!(authz::decide(&outsider, read), Decision::NotFound);
//! # Ok::<(), domain::validation::FieldError>(())
//! ```

#![warn(missing_docs)]

mod closed_set;

pub mod auth;
pub mod authz;
pub mod membership;
pub mod organization;
pub mod provisioner;
pub mod repo;
pub mod time;
pub mod user;
pub mod validation;
