//! The wire format: codersdk's types, field for field, named as Coder names them in its
//! OpenAPI document. Conversions from the domain live beside each type.

pub mod auth;
pub mod members;
pub mod organizations;
pub mod provisioner;
pub mod response;
pub mod rules;
pub mod schema;
pub mod users;

pub use response::{Response, ValidationError};
