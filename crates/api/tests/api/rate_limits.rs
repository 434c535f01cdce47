//! CONTRACT §8: rate limits, driven past their thresholds.

use serde_json::{Value, json};
use storage::testing::Backend;

use crate::harness::{Client, PASSWORD, Reply, TestApp};
use crate::on_both_backends;

on_both_backends!(
    small_limits: the_api_limit_counts_per_user_and_route_and_answers_coders_429,
    anonymous_callers_are_counted_per_address,
    an_owner_may_bypass_the_api_limit_and_anyone_else_gets_428,
    sign_in_attempts_are_limited_per_address,
    failed_daemon_key_checks_count_toward_the_sign_in_limit,
    daemons_with_valid_keys_are_not_under_the_api_limit,
);

const API_LIMIT: i64 = 4;
const SIGN_IN_LIMIT: i64 = 3;

impl TestApp {
    /// An API limit of 4 and a sign-in limit of 3 a minute.
    pub async fn small_limits(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |config| {
            config.api_rate_limit = API_LIMIT;
            config.login_rate_limit = SIGN_IN_LIMIT;
        })
        .await
    }
}

fn limited(n: i64) -> Value {
    json!({ "message": format!("You've been rate limited for sending more than {n} requests in 1m0s.") })
}

/// A 429 with Coder's body and a Retry-After of whole seconds within the window.
fn assert_limited(reply: &Reply, n: i64) {
    assert_eq!(reply.parts(), (429, limited(n)), "{}", reply.text);
    let retry_after: u64 = reply.header("retry-after").and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!((1..=120).contains(&retry_after), "Retry-After: {retry_after}");
}

async fn wrong_login(client: &Client) -> Reply {
    client.post("/api/v2/users/login", json!({ "email": "owner@example.com", "password": "not-the-password" })).await
}

async fn the_api_limit_counts_per_user_and_route_and_answers_coders_429(app: TestApp) {
    let owner = app.owner().await;
    let member = app.user(&owner, "member", &[]).await;
    for _ in 0..API_LIMIT {
        assert_eq!(owner.get("/api/v2/organizations").await.status, 200);
    }
    assert_limited(&owner.get("/api/v2/organizations").await, API_LIMIT);
    // Another route, and another user, have their own counts.
    assert_eq!(owner.get("/api/v2/users/me").await.status, 200);
    assert_eq!(member.get("/api/v2/organizations").await.status, 200);
    // A path the route template covers counts as that route, whatever it names.
    for n in 0..API_LIMIT {
        assert_eq!(owner.get(&format!("/api/v2/organizations/missing-{n}")).await.status, 404);
    }
    assert_limited(&owner.get("/api/v2/organizations/default").await, API_LIMIT);
}

async fn anonymous_callers_are_counted_per_address(app: TestApp) {
    let anonymous = app.anonymous();
    for _ in 0..API_LIMIT {
        assert_eq!(anonymous.get("/api/v2/users/first").await.status, 404);
    }
    assert_limited(&anonymous.get("/api/v2/users/first").await, API_LIMIT);
    // A bad token is no sign-in: it counts against the address too.
    let forged = anonymous.with_token("aaaaaaaaaa-bbbbbbbbbbbbbbbbbbbbbb");
    assert_limited(&forged.get("/api/v2/users/first").await, API_LIMIT);
    // The probes are outside the API and never limited.
    for _ in 0..10 {
        assert_eq!(anonymous.get("/healthz").await.status, 200);
    }
}

async fn an_owner_may_bypass_the_api_limit_and_anyone_else_gets_428(app: TestApp) {
    let owner = app.owner().await;
    let member = app.user(&owner, "member", &[]).await;
    let bypassing = |client: &Client, value: &str| {
        client
            .request(reqwest::Method::GET, "/api/v2/organizations")
            .header("X-Coder-Bypass-Ratelimit", value.to_owned())
    };
    for _ in 0..(API_LIMIT * 3) {
        assert_eq!(owner.send(bypassing(&owner, "true")).await.status, 200);
    }
    let refused = member.send(bypassing(&member, "true")).await;
    assert_eq!(
        refused.parts(),
        (428, json!({ "message": "\"X-Coder-Bypass-Ratelimit\" provided but user is not owner" }))
    );
    // "false" (or anything Go does not read as true) is no bypass attempt.
    assert_eq!(member.send(bypassing(&member, "false")).await.status, 200);
    // Anonymous callers have no role to check: the header is ignored, as Coder does.
    let anonymous = app.anonymous();
    let request =
        anonymous.request(reqwest::Method::GET, "/api/v2/users/first").header("X-Coder-Bypass-Ratelimit", "1");
    assert_eq!(anonymous.send(request).await.status, 200);
}

async fn sign_in_attempts_are_limited_per_address(app: TestApp) {
    let owner = app.owner().await; // one POST /users/first and one sign-in: two of three
    let anonymous = app.anonymous();
    assert_eq!(wrong_login(&anonymous).await.status, 401);
    assert_limited(&wrong_login(&anonymous).await, SIGN_IN_LIMIT);
    // The right password does not help once the address is over the limit.
    let right =
        anonymous.post("/api/v2/users/login", json!({ "email": "owner@example.com", "password": PASSWORD })).await;
    assert_limited(&right, SIGN_IN_LIMIT);
    let first = json!({ "email": "x@example.com", "username": "x", "password": PASSWORD });
    assert_limited(&anonymous.post("/api/v2/users/first", first).await, SIGN_IN_LIMIT);
    // Signed-in work is not affected.
    assert_eq!(owner.get("/api/v2/users/me").await.status, 200);
}

async fn failed_daemon_key_checks_count_toward_the_sign_in_limit(app: TestApp) {
    let owner = app.owner().await; // two of three sign-in attempts
    let default = owner.get("/api/v2/organizations/default").await.id();
    let key = owner.create_key(default, "builders", json!({})).await;
    let anonymous = app.anonymous();
    let register = |secret: &str| {
        anonymous
            .request(reqwest::Method::POST, "/api/v2/provisionerdaemons")
            .header("Coder-Provisioner-Daemon-Key", secret.to_owned())
            .json(&json!({ "name": "d1", "provisioners": ["echo"] }))
    };
    let wrong = "x".repeat(43);
    assert_eq!(anonymous.send(register(&wrong)).await.status, 401);
    assert_limited(&anonymous.send(register(&wrong)).await, SIGN_IN_LIMIT);
    // Over the limit, the address is refused before a key is even looked up.
    assert_limited(&anonymous.send(register(&key)).await, SIGN_IN_LIMIT);
}

async fn daemons_with_valid_keys_are_not_under_the_api_limit(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let key = owner.create_key(default, "builders", json!({})).await;
    let daemon = app.daemon(&key, "builder-1").await;
    for _ in 0..(API_LIMIT * 5) {
        assert_eq!(daemon.heartbeat().await.status, 204);
    }
    for _ in 0..(API_LIMIT * 2) {
        assert_eq!(daemon.acquire(0).await, None);
    }
}

#[actix_web::test]
async fn limits_at_zero_are_off() {
    let Some(app) = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.api_rate_limit = 0;
        config.login_rate_limit = -1;
    })
    .await
    else {
        return;
    };
    let owner = app.owner().await;
    for _ in 0..20 {
        assert_eq!(wrong_login(&app.anonymous()).await.status, 401);
        assert_eq!(owner.get("/api/v2/organizations").await.status, 200);
    }
}

#[actix_web::test]
async fn x_forwarded_for_is_believed_from_trusted_proxies_only() {
    let origins = |list: &[&str]| -> Vec<ipnet::IpNet> { list.iter().filter_map(|raw| raw.parse().ok()).collect() };
    let from = |client: &Client, address: &str| {
        client
            .request(reqwest::Method::POST, "/api/v2/users/login")
            .header("X-Forwarded-For", address.to_owned())
            .json(&json!({ "email": "nobody@example.com", "password": "wrong" }))
    };
    let behind_proxy = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.login_rate_limit = 2;
        config.trusted_proxies = origins(&["127.0.0.0/8"]);
    })
    .await;
    let Some(app) = behind_proxy else { return };
    let anonymous = app.anonymous();
    for _ in 0..2 {
        assert_eq!(anonymous.send(from(&anonymous, "198.51.100.7")).await.status, 401);
    }
    assert_eq!(anonymous.send(from(&anonymous, "198.51.100.7")).await.status, 429);
    // Another client behind the same proxy has its own count; a client's own claim further
    // left in the header changes nothing.
    assert_eq!(anonymous.send(from(&anonymous, "198.51.100.8")).await.status, 401);
    assert_eq!(anonymous.send(from(&anonymous, "203.0.113.1, 198.51.100.7")).await.status, 429);

    let direct = TestApp::spawn_with(Backend::Sqlite, |config| config.login_rate_limit = 2).await;
    let Some(app) = direct else { return };
    let anonymous = app.anonymous();
    assert_eq!(anonymous.send(from(&anonymous, "198.51.100.1")).await.status, 401);
    assert_eq!(anonymous.send(from(&anonymous, "198.51.100.2")).await.status, 401);
    assert_eq!(anonymous.send(from(&anonymous, "198.51.100.3")).await.status, 429, "the header is not believed");
}
