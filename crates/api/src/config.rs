//! Server settings, from flags or environment, with Go-style durations (`90s`, `30m`, `168h`).

use std::time::Duration as StdDuration;

use chrono::Duration;
use clap::Args;
use domain::provisioner::{Liveness, LogBudget, Reaper};
use storage::PoolOptions;

use crate::state::Settings;

/// Everything `api serve` is told.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "API_HTTP_ADDRESS", default_value = "127.0.0.1:3000")]
    pub http_address: String,
    /// `sqlite://path/to/file.db` (embedded, the default) or `postgres://user@host:port/database`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://api.db")]
    pub database_url: String,
    /// How long a sign-in session lasts without use; it slides forward with use.
    #[arg(long, env = "API_SESSION_LIFETIME", default_value = "24h", value_parser = parse_duration)]
    pub session_lifetime: StdDuration,
    /// Lifetime of a new API token when the request gives none.
    #[arg(long, env = "API_DEFAULT_TOKEN_LIFETIME", default_value = "168h", value_parser = parse_duration)]
    pub default_token_lifetime: StdDuration,
    /// The longest lifetime an API token may be given.
    #[arg(long, env = "API_MAX_TOKEN_LIFETIME", default_value = "876600h", value_parser = parse_duration)]
    pub max_token_lifetime: StdDuration,
    /// A provisioner daemon not seen for this long is offline.
    #[arg(long, env = "API_DAEMON_STALE_AFTER", default_value = "90s", value_parser = parse_duration)]
    pub daemon_stale_after: StdDuration,
    /// Pending jobs untouched for this long are failed by the reaper.
    #[arg(long, env = "API_REAPER_PENDING_AFTER", default_value = "30m", value_parser = parse_duration)]
    pub reaper_pending_after: StdDuration,
    /// Running jobs without an update for this long are failed by the reaper.
    #[arg(long, env = "API_REAPER_HUNG_AFTER", default_value = "5m", value_parser = parse_duration)]
    pub reaper_hung_after: StdDuration,
    /// Mark the session cookie Secure: set it when clients reach the server over HTTPS.
    #[arg(long, env = "API_SECURE_AUTH_COOKIE")]
    pub secure_auth_cookie: bool,
    /// Database connections in the pool.
    #[arg(long, env = "API_DATABASE_POOL_SIZE", default_value_t = 16)]
    pub database_pool_size: u32,
    /// HTTP worker threads (default: one per CPU).
    #[arg(long, env = "API_HTTP_WORKERS")]
    pub http_workers: Option<usize>,
}

/// The server's whole configuration, as `Application::build` takes it.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub http_address: String,
    pub database_url: String,
    pub pool: PoolOptions,
    pub settings: Settings,
    pub workers: Option<usize>,
}

fn chrono(duration: StdDuration) -> Duration {
    Duration::from_std(duration).unwrap_or(Duration::MAX)
}

impl From<ServeArgs> for ServerConfig {
    fn from(args: ServeArgs) -> Self {
        let settings = Settings {
            session_lifetime: chrono(args.session_lifetime),
            default_token_lifetime: chrono(args.default_token_lifetime),
            max_token_lifetime: chrono(args.max_token_lifetime),
            liveness: Liveness { stale_after: chrono(args.daemon_stale_after) },
            log_budget: LogBudget::default(),
            reaper: Reaper {
                pending_after: chrono(args.reaper_pending_after),
                hung_after: chrono(args.reaper_hung_after),
            },
            ..Settings::default()
        };
        Self {
            http_address: args.http_address,
            database_url: args.database_url,
            pool: PoolOptions { max_size: args.database_pool_size.max(1), ..PoolOptions::default() },
            settings,
            workers: args.http_workers,
        }
    }
}

/// Go's duration syntax (`1h30m`, `90s`): the rule lives in `domain`, shared with the daemon.
pub use domain::time::parse_duration;
