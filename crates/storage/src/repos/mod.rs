//! One module per resource: its rows, its queries, and the repository trait it implements.

mod api_keys;
mod daemons;
pub use daemons::DaemonProfile;
mod job_steps;
pub use job_steps::JobStepBatches;
pub(crate) use job_steps::JobSteps;
mod jobs;
mod members;
pub(crate) mod organizations;
mod provisioner_keys;
pub(crate) mod tag_sets;
mod users;

use diesel::declare_sql_function;
use diesel::sql_types::Text;

#[declare_sql_function]
extern "SQL" {
    /// Names are compared regardless of case through `lower(...)`, which both backends have
    /// and the unique indexes are built on. Both sides of a comparison go through it: the
    /// database's `lower` folds case as the index does (SQLite's only ASCII), which Rust's
    /// `to_lowercase` does not, and a name the index holds must be found again.
    fn lower(x: Text) -> Text;
}
