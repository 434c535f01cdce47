//! Server settings, from flags or environment, with Go-style durations (`90s`, `30m`, `168h`).

use std::time::Duration as StdDuration;

use chrono::Duration;
use clap::Args;
use domain::provisioner::{Liveness, LogBudget, Reaper};
use ipnet::IpNet;
use storage::PoolOptions;

use crate::limits::client_ip::parse_origin;

/// Deployment settings the routes apply.
#[derive(Debug, Clone)]
pub struct Settings {
    pub session_lifetime: Duration,
    pub default_token_lifetime: Duration,
    pub max_token_lifetime: Duration,
    pub liveness: Liveness,
    pub log_budget: LogBudget,
    pub reaper: Reaper,
    /// How long an acquire waits by default, and at most.
    pub acquire_wait: std::time::Duration,
    pub acquire_max_wait: std::time::Duration,
    /// Mark the session cookie `Secure` (the server is reached over HTTPS).
    pub secure_cookies: bool,
    /// A request body must arrive within this of its headers.
    pub body_timeout: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_lifetime: Duration::hours(24),
            default_token_lifetime: Duration::days(7),
            // Coder's default maximum: 100 years and 25 days.
            max_token_lifetime: Duration::hours(876_600),
            liveness: Liveness::default(),
            log_budget: LogBudget::default(),
            reaper: Reaper::default(),
            acquire_wait: std::time::Duration::from_secs(30),
            acquire_max_wait: std::time::Duration::from_secs(60),
            secure_cookies: false,
            body_timeout: std::time::Duration::from_secs(30),
        }
    }
}

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
    /// Serve Prometheus metrics on --prometheus-address.
    #[arg(long, env = "API_PROMETHEUS_ENABLE")]
    pub prometheus_enable: bool,
    /// Where metrics are served, at `/` and `/metrics`.
    #[arg(long, env = "API_PROMETHEUS_ADDRESS", default_value = "127.0.0.1:2112")]
    pub prometheus_address: String,
    /// Write logs as one JSON object per line.
    #[arg(long, env = "API_LOG_JSON")]
    pub log_json: bool,
    /// API requests a minute per user (per client address when anonymous) and route; 0 or
    /// less turns the limit off.
    #[arg(long, env = "API_RATE_LIMIT", default_value_t = DEFAULT_API_RATE_LIMIT, allow_negative_numbers = true)]
    pub api_rate_limit: i64,
    /// Sign-in attempts (and failed daemon-key checks) a minute per client address; 0 or
    /// less turns the limit off.
    #[arg(long, env = "API_LOGIN_RATE_LIMIT", default_value_t = DEFAULT_LOGIN_RATE_LIMIT, allow_negative_numbers = true)]
    pub login_rate_limit: i64,
    /// A request body that has not fully arrived this long after its headers gets 408.
    #[arg(long, env = "API_REQUEST_BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_body_timeout: StdDuration,
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish.
    #[arg(long, env = "API_SHUTDOWN_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: StdDuration,
    /// Proxies whose X-Forwarded-For is believed: comma-separated CIDRs or addresses.
    #[arg(long, env = "API_PROXY_TRUSTED_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub proxy_trusted_origins: Vec<IpNet>,
}

/// Coder's defaults.
pub const DEFAULT_API_RATE_LIMIT: i64 = 512;
pub const DEFAULT_LOGIN_RATE_LIMIT: i64 = 60;

/// The server's whole configuration, as `Application::build` takes it.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub http_address: String,
    pub database_url: String,
    pub pool: PoolOptions,
    pub settings: Settings,
    pub workers: Option<usize>,
    /// Where metrics are served; `None`: not at all.
    pub prometheus_address: Option<String>,
    /// Requests a minute; 0 or less: no limit.
    pub api_rate_limit: i64,
    pub login_rate_limit: i64,
    pub trusted_proxies: Vec<IpNet>,
    /// How long requests in flight may take to finish once a stop is asked for.
    pub shutdown_grace: StdDuration,
}

impl ServerConfig {
    /// The defaults the flags have, on this address and database.
    pub fn new(http_address: impl Into<String>, database_url: impl Into<String>) -> Self {
        Self {
            http_address: http_address.into(),
            database_url: database_url.into(),
            pool: PoolOptions::default(),
            settings: Settings::default(),
            workers: None,
            prometheus_address: None,
            api_rate_limit: DEFAULT_API_RATE_LIMIT,
            login_rate_limit: DEFAULT_LOGIN_RATE_LIMIT,
            trusted_proxies: Vec::new(),
            shutdown_grace: StdDuration::from_secs(30),
        }
    }
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
            body_timeout: args.request_body_timeout,
            ..Settings::default()
        };
        let mut config = Self::new(args.http_address, args.database_url);
        config.pool = PoolOptions { max_size: args.database_pool_size.max(1), ..PoolOptions::default() };
        config.settings = settings;
        config.workers = args.http_workers;
        config.prometheus_address = args.prometheus_enable.then_some(args.prometheus_address);
        config.api_rate_limit = args.api_rate_limit;
        config.login_rate_limit = args.login_rate_limit;
        config.trusted_proxies = args.proxy_trusted_origins;
        config.shutdown_grace = args.shutdown_grace;
        config
    }
}

/// Go's duration syntax (`1h30m`, `90s`): the rule lives in `domain`, shared with the daemon.
pub use domain::time::parse_duration;

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn parse(flags: &[&str]) -> Result<ServerConfig, clap::Error> {
        Serve::try_parse_from(std::iter::once("api").chain(flags.iter().copied())).map(|s| s.args.into())
    }

    #[test]
    fn operations_default_to_coders_settings() {
        let config = parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((config.api_rate_limit, config.login_rate_limit), (512, 60));
        assert_eq!(config.prometheus_address, None);
        assert!(config.trusted_proxies.is_empty());
        let config =
            parse(&["--prometheus-enable", "--api-rate-limit", "-1", "--proxy-trusted-origins", "10.0.0.0/8,::1"])
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.prometheus_address.as_deref(), Some("127.0.0.1:2112"));
        assert_eq!(config.api_rate_limit, -1);
        assert_eq!(config.trusted_proxies.len(), 2);
        assert!(parse(&["--proxy-trusted-origins", "10.0.0.0/99"]).is_err());
    }
}
