//! The HTTP API: Coder's `/api/v2` for organizations, users and tokens, membership and
//! roles, and the provisioner job queue, with its OpenAPI document and Swagger UI.
//!
//! Handlers are thin: they extract the caller and the resource, ask `domain` for the
//! decision, make one call into `storage`, and answer in codersdk's wire format.

pub mod config;
pub mod dispatch;
pub mod error;
pub mod extract;
pub mod hashing;
pub mod lifecycle;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod paged;
mod reaper;
pub mod respond;
pub mod router;
pub mod routes;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod wire;

pub use config::{ServeArgs, ServerConfig};
pub use startup::Application;
