//! What wraps every route: observation (request ids, logs, metrics).

pub mod observe;

pub use observe::{RequestId, observe};
