//! The rules of a Coder-compatible organization and provisioner-job control plane.
//!
//! Everything here is pure: value types that can only hold valid values, the rules that decide
//! (name validity, default-organization protection, tag matching, job status and queue
//! positions, authorization), and the repository traits a store implements. No HTTP, no SQL,
//! no clock: a rule that needs "now" takes it as an argument.

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
