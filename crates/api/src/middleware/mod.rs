//! What wraps every route: observation (request ids, logs, metrics) and the deadline for
//! request bodies.

pub mod body_timeout;
pub mod observe;

pub use body_timeout::body_timeout;
pub use observe::{RequestId, RoutePattern, observe};
