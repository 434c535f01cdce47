//! Rows: what each table holds in Rust terms, and how a row becomes the domain's value and
//! back. Nothing here runs a query; the repositories (`repos`) do, and share these types, so
//! no repository borrows another's rows.

pub(crate) mod api_keys;
pub(crate) mod daemons;
pub(crate) mod job_documents;
pub(crate) mod jobs;
pub(crate) mod members;
pub(crate) mod organizations;
pub(crate) mod provisioner_keys;
pub(crate) mod tag_sets;
pub(crate) mod users;
