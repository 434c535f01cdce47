//! Every route, registered once: utoipa collects each into the OpenAPI document as actix
//! serves it. Static paths come before the parameterised ones they would otherwise match.

mod health;
mod job_logs;
mod members;
mod organizations;
mod provisioner_daemons;
mod provisioner_jobs;
mod provisioner_keys;
mod tokens;
mod users;

use utoipa_actix_web::service_config::ServiceConfig;

/// What the parameters that many routes share mean, written once for all of them.
mod param {
    pub const ORGANIZATION: &str =
        "The organization: its ID or its name (in any case), or `default` (or the nil UUID) for the default one.";
    pub const USER: &str = "The user: `me`, its ID, or its username (in any case).";
    pub const JOB: &str = "The provisioner job's ID.";
    pub const DAEMON: &str = "The provisioner daemon's ID, as registering it answered.";
    pub const LIMIT: &str = "At most this many, newest first (default 50; 0 lists all).";
    pub const TAGS: &str =
        "Only those whose tags include every pair of this JSON object of strings, e.g. `{\"os\":\"linux\"}`.";
    /// Why a `{user}` route answers 400.
    pub const NO_SUCH_USER: &str =
        "No user by that name or ID that the caller may see (`\"user\" must be an existing uuid or username.`).";
}

/// The routes under `/api/v2`. actix tries them in this order, each with a regular
/// expression: the daemons' routes, which busy daemons call many times a second, come first
/// (no other route's path can match theirs).
pub fn api_v2(cfg: &mut ServiceConfig) {
    cfg.service(provisioner_daemons::register)
        .service(provisioner_daemons::acquire)
        .service(provisioner_daemons::complete)
        .service(provisioner_daemons::update)
        .service(provisioner_daemons::heartbeat)
        .service(provisioner_daemons::fail)
        .service(users::get_first_user)
        .service(users::create_first_user)
        .service(users::login)
        .service(users::logout)
        .service(users::list_users)
        .service(users::create_user)
        .service(users::get_user)
        .service(users::delete_user)
        .service(users::update_site_roles)
        .service(users::suspend_user)
        .service(users::activate_user)
        .service(users::user_organizations)
        .service(users::user_organization)
        .service(tokens::create_token)
        .service(tokens::list_tokens)
        .service(tokens::delete_token)
        .service(organizations::list)
        .service(organizations::create)
        .service(organizations::get)
        .service(organizations::update)
        .service(organizations::delete)
        .service(members::list)
        .service(members::add)
        .service(members::remove)
        .service(members::update_roles)
        .service(provisioner_jobs::list)
        .service(provisioner_jobs::create)
        .service(provisioner_jobs::get)
        .service(provisioner_jobs::cancel)
        .service(provisioner_jobs::logs)
        .service(provisioner_keys::list)
        .service(provisioner_keys::create)
        .service(provisioner_keys::delete)
        .service(provisioner_daemons::list);
}

/// Routes outside `/api/v2`.
pub fn root(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz).service(health::readyz);
}
