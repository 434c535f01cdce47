//! The server under test: the real `Application`, on a fresh database, over real HTTP.

use std::time::Duration;

use api::ServerConfig;
use api::config::Settings;
use serde_json::{Value, json};
use storage::PoolOptions;
use storage::testing::{Backend, TestDatabase};
use uuid::Uuid;

pub const PASSWORD: &str = "correct-horse-battery-staple";

pub struct TestApp {
    pub base: String,
    /// The metrics listener's base URL, when metrics are on.
    pub metrics: Option<String>,
    http: reqwest::Client,
    pub backend: Backend,
    pub state: actix_web::web::Data<api::state::AppState>,
    db: TestDatabase,
}

/// A reply: status, headers and the body as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// `(status, body)`, to compare both at once.
    pub fn parts(&self) -> (u16, Value) {
        (self.status, self.body.clone())
    }

    pub fn id(&self) -> Uuid {
        let raw = self.body["id"].as_str().unwrap_or_default();
        Uuid::try_parse(raw).unwrap_or_else(|_| panic!("no id in {}", self.body))
    }
}

/// Someone calling the API: anonymous, or signed in with a token.
#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    pub token: Option<String>,
    pub user_id: Uuid,
    pub username: String,
}

impl Client {
    pub fn with_token(&self, token: &str) -> Self {
        Self { token: Some(token.to_owned()), ..self.clone() }
    }

    pub fn anonymous(&self) -> Self {
        Self { token: None, user_id: Uuid::nil(), username: String::new(), ..self.clone() }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) };
        let request = self.http.request(method, url);
        match &self.token {
            Some(token) => request.header("Coder-Session-Token", token),
            None => request,
        }
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call("PATCH", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    // Helpers for the routes most tests need as setup.

    pub async fn create_organization(&self, name: &str) -> Uuid {
        let reply = self.post("/api/v2/organizations", json!({ "name": name })).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.id()
    }

    pub async fn add_member(&self, organization: Uuid, user: &Client) {
        let reply =
            self.post(&format!("/api/v2/organizations/{organization}/members/{}", user.user_id), json!({})).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    pub async fn make_admin(&self, organization: Uuid, user: &Client) {
        let path = format!("/api/v2/organizations/{organization}/members/{}/roles", user.user_id);
        let reply = self.put(&path, json!({ "roles": ["organization-admin"] })).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A server on a database prepared beforehand (an old release's rows, say).
    pub async fn on_database(db: TestDatabase) -> Self {
        let config = Self::config(&db, Settings::default());
        Self::start(db, config).await
    }

    /// A server configured otherwise (short reaper periods, a small log budget and the like).
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut ServerConfig)) -> Option<Self> {
        let db = TestDatabase::new(backend)?;
        let mut config = Self::config(&db, Settings::default());
        adjust(&mut config);
        Some(Self::start(db, config).await)
    }

    fn config(db: &TestDatabase, settings: Settings) -> ServerConfig {
        let mut config = ServerConfig::new("127.0.0.1:0", db.url());
        config.pool = PoolOptions { max_size: 8, connection_timeout: Duration::from_secs(5) };
        config.settings = settings;
        config.workers = Some(2);
        config
    }

    async fn start(db: TestDatabase, config: ServerConfig) -> Self {
        let application = api::Application::build(config).await.unwrap_or_else(|e| panic!("cannot start: {e:#}"));
        let base = format!("http://{}", application.address());
        let metrics = application.metrics_address().map(|address| format!("http://{address}"));
        let state = application.state();
        actix_web::rt::spawn(application.run());
        // Idle connections are dropped before the server's keep-alive (5 s) closes them, so a
        // test that pauses (seeding the store directly) never reuses a closed one.
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        Self { base, metrics, http, backend: db.backend(), state, db }
    }

    /// A server with its Prometheus listener on (on a free port).
    pub async fn with_metrics(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |config| config.prometheus_address = Some("127.0.0.1:0".into())).await
    }

    /// Metrics on and the API limit off (`--api-rate-limit 0`), for tests that send
    /// thousands of requests a minute.
    pub async fn with_metrics_unlimited(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |config| {
            config.prometheus_address = Some("127.0.0.1:0".into());
            config.api_rate_limit = 0;
        })
        .await
    }

    /// What the metrics listener serves now.
    pub async fn scrape(&self) -> Scrape {
        let base = self.metrics.as_deref().unwrap_or_else(|| panic!("metrics are off"));
        let response = self.http.get(format!("{base}/metrics")).send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 200);
        Scrape(response.text().await.unwrap_or_default())
    }

    /// Scrapes until `check` holds (a request is counted once its response has been sent,
    /// which can be a moment after the client read it), or fails with the last scrape.
    pub async fn scrape_until(&self, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let scrape = self.scrape().await;
            if check(&scrape) {
                return scrape;
            }
            if std::time::Instant::now() > deadline {
                panic!("{what} never held; last scrape:\n{}", scrape.0);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Another server on the same database (a second replica, or a restart).
    pub async fn second_server(&self) -> TestApp {
        let sibling = TestDatabase::sharing(&self.db);
        let config = Self::config(&sibling, self.state.settings.clone());
        Self::start(sibling, config).await
    }

    /// The database under the server, to break it behind the server's back.
    pub fn database(&self) -> &TestDatabase {
        &self.db
    }

    pub fn anonymous(&self) -> Client {
        Client {
            base: self.base.clone(),
            http: self.http.clone(),
            token: None,
            user_id: Uuid::nil(),
            username: String::new(),
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.anonymous().post("/api/v2/users/login", json!({ "email": email, "password": password })).await
    }

    async fn signed_in(&self, email: &str, user_id: Uuid, username: &str) -> Client {
        let reply = self.login(email, PASSWORD).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let token = reply.body["session_token"].as_str().unwrap_or_default().to_owned();
        Client { token: Some(token), user_id, username: username.to_owned(), ..self.anonymous() }
    }

    /// The first user (an owner, member of the default organization), signed in.
    pub async fn owner(&self) -> Client {
        let body = json!({ "email": "owner@example.com", "username": "owner", "name": "Owner", "password": PASSWORD });
        let reply = self.anonymous().post("/api/v2/users/first", body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let id = Uuid::try_parse(reply.body["user_id"].as_str().unwrap_or_default()).unwrap_or_default();
        self.signed_in("owner@example.com", id, "owner").await
    }

    /// A user the owner creates in these organizations (the default one when none), signed in.
    pub async fn user(&self, owner: &Client, username: &str, organizations: &[Uuid]) -> Client {
        let email = format!("{username}@example.com");
        let body =
            json!({ "email": email, "username": username, "password": PASSWORD, "organization_ids": organizations });
        let reply = owner.post("/api/v2/users", body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        self.signed_in(&email, reply.id(), username).await
    }
}

/// The usual people: an owner; `acme` with an organization admin and a member; `other` with
/// an outsider (a member of another organization).
pub struct Cast {
    pub owner: Client,
    pub acme: Uuid,
    pub admin: Client,
    pub member: Client,
    pub outsider: Client,
}

impl TestApp {
    pub async fn cast(&self) -> Cast {
        let owner = self.owner().await;
        let acme = owner.create_organization("acme").await;
        let other = owner.create_organization("other").await;
        let admin = self.user(&owner, "admin", &[acme]).await;
        owner.make_admin(acme, &admin).await;
        let member = self.user(&owner, "member", &[acme]).await;
        let outsider = self.user(&owner, "outsider", &[other]).await;
        Cast { owner, acme, admin, member, outsider }
    }
}

/// A scrape of the metrics listener, in the Prometheus text format.
pub struct Scrape(pub String);

impl Scrape {
    /// `(name, labels)` of every sample.
    fn samples(&self) -> impl Iterator<Item = (&str, Vec<(&str, &str)>, f64)> {
        self.0.lines().filter(|line| !line.starts_with('#') && !line.is_empty()).filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| pair.split_once('='))
                .map(|(key, value)| (key, value.trim_matches('"')))
                .collect();
            Some((name, labels, value.parse().ok()?))
        })
    }

    /// The value of the sample with this name and exactly these labels (in any order).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples()
            .find(|(n, l, _)| *n == name && l.len() == labels.len() && labels.iter().all(|pair| l.contains(pair)))
            .map(|(_, _, value)| value)
    }

    /// `value`, or 0 when the series does not exist (yet).
    pub fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels).unwrap_or(0.0)
    }

    /// How many samples have names starting with `prefix`.
    pub fn series(&self, prefix: &str) -> usize {
        self.samples().filter(|(name, _, _)| name.starts_with(prefix)).count()
    }
}

/// Writes `async fn name(app: TestApp)` once and runs it on SQLite and on PostgreSQL. The
/// server comes from `TestApp::spawn`, or from another constructor taking a backend:
/// `on_both_backends!(with_metrics: name, ...)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!(spawn: $($name),*);
    };
    ($spawn:ident: $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    if let Some(app) = $crate::harness::TestApp::$spawn(storage::testing::Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    if let Some(app) = $crate::harness::TestApp::$spawn(storage::testing::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

/// Masks what changes from run to run (ids, times, tokens) so whole bodies can be compared.
pub fn masked(mut value: Value, keys: &[&str]) -> Value {
    fn walk(value: &mut Value, keys: &[&str]) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    if keys.contains(&key.as_str()) && !inner.is_null() {
                        *inner = Value::String("*".into());
                    } else {
                        walk(inner, keys);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| walk(item, keys)),
            _ => {}
        }
    }
    walk(&mut value, keys);
    value
}

impl Client {
    /// A provisioner key of the organization; returns its secret.
    pub async fn create_key(&self, organization: Uuid, name: &str, tags: Value) -> String {
        let path = format!("/api/v2/organizations/{organization}/provisionerkeys");
        let reply = self.post(&path, json!({ "name": name, "tags": tags })).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.body["key"].as_str().unwrap_or_default().to_owned()
    }

    /// A pending `echo` job with these tags.
    pub async fn create_job(&self, organization: Uuid, tags: Value) -> Uuid {
        let path = format!("/api/v2/organizations/{organization}/provisionerjobs");
        let body = json!({ "type": "template_version_import", "provisioner": "echo", "tags": tags });
        let reply = self.post(&path, body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.id()
    }

    pub async fn job(&self, organization: Uuid, job: Uuid) -> Reply {
        self.get(&format!("/api/v2/organizations/{organization}/provisionerjobs/{job}")).await
    }
}

/// A provisioner daemon speaking the HTTP protocol with its key.
#[derive(Clone)]
pub struct TestDaemon {
    pub id: Uuid,
    pub name: String,
    key: String,
    client: Client,
}

impl TestApp {
    /// Registers an `echo` daemon with this key.
    pub async fn daemon(&self, key: &str, name: &str) -> TestDaemon {
        let client = self.anonymous();
        let request = client
            .request(reqwest::Method::POST, "/api/v2/provisionerdaemons")
            .header("Coder-Provisioner-Daemon-Key", key)
            .json(&json!({ "name": name, "provisioners": ["echo"], "version": "test" }));
        let reply = client.send(request).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        TestDaemon { id: reply.id(), name: name.to_owned(), key: key.to_owned(), client }
    }
}

impl TestDaemon {
    pub async fn call(&self, path: &str, body: Option<Value>) -> Reply {
        let url = format!("/api/v2/provisionerdaemons/{}{path}", self.id);
        let mut request =
            self.client.request(reqwest::Method::POST, &url).header("Coder-Provisioner-Daemon-Key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.client.send(request).await
    }

    /// The job it acquired within `timeout` seconds, if any.
    pub async fn acquire(&self, timeout: u32) -> Option<Value> {
        let reply = self.call(&format!("/acquire?timeout={timeout}"), None).await;
        match reply.status {
            200 => Some(reply.body),
            204 => None,
            other => panic!("acquire answered {other}: {}", reply.text),
        }
    }

    pub async fn acquire_id(&self) -> Uuid {
        let job = self.acquire(5).await.unwrap_or_else(|| panic!("{} got no job", self.name));
        Uuid::try_parse(job["id"].as_str().unwrap_or_default()).unwrap_or_default()
    }

    pub async fn log(&self, job: Uuid, lines: &[&str]) -> Reply {
        let logs: Vec<Value> = lines
            .iter()
            .map(|line| json!({ "log_source": "provisioner", "log_level": "info", "stage": "apply", "output": line }))
            .collect();
        self.call(&format!("/jobs/{job}/update"), Some(json!({ "logs": logs }))).await
    }

    pub async fn complete(&self, job: Uuid) -> Reply {
        self.call(&format!("/jobs/{job}/complete"), None).await
    }

    pub async fn fail(&self, job: Uuid, error: &str) -> Reply {
        self.call(&format!("/jobs/{job}/fail"), Some(json!({ "error": error }))).await
    }

    pub async fn heartbeat(&self) -> Reply {
        self.call("/heartbeat", None).await
    }
}

impl Drop for TestApp {
    /// Before the database is dropped: the server stays up until the test process exits, and
    /// its pool must not go on reconnecting to a database that is gone meanwhile.
    fn drop(&mut self) {
        self.state.store.close();
    }
}

/// The owner, the default organization and one daemon serving it: where most job tests start.
pub struct Runner {
    pub owner: Client,
    pub organization: Uuid,
    pub daemon: TestDaemon,
}

impl TestApp {
    pub async fn runner(&self) -> Runner {
        let owner = self.owner().await;
        let organization = owner.get("/api/v2/organizations/default").await.id();
        let key = owner.create_key(organization, "runner", json!({})).await;
        let daemon = self.daemon(&key, "runner").await;
        Runner { owner, organization, daemon }
    }
}

impl Runner {
    pub async fn status(&self, job: Uuid) -> Value {
        self.owner.job(self.organization, job).await.body["status"].clone()
    }

    pub async fn cancel(&self, job: Uuid) -> Reply {
        let path = format!("/api/v2/organizations/{}/provisionerjobs/{job}/cancel", self.organization);
        self.owner.post(&path, json!({})).await
    }

    pub fn logs_path(&self, job: Uuid) -> String {
        format!("/api/v2/organizations/{}/provisionerjobs/{job}/logs", self.organization)
    }

    /// A WebSocket following the job's logs (`?follow=true`), as the owner.
    pub async fn follow_logs(
        &self,
        job: Uuid,
    ) -> impl futures_util::Stream<Item = Result<awc::ws::Frame, awc::error::WsProtocolError>> + Unpin {
        let url = format!("{}{}?follow=true", self.owner.base.replace("http://", "ws://"), self.logs_path(job));
        let (_, socket) = awc::Client::new()
            .ws(url)
            .header("Coder-Session-Token", self.owner.token.clone().unwrap_or_default())
            .connect()
            .await
            .unwrap_or_else(|e| panic!("websocket: {e}"));
        socket
    }
}
