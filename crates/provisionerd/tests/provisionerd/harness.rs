//! The real server on a throw-away database, and an owner who sets up keys and jobs
//! through the public API.

use std::time::{Duration, Instant};

use api::ServerConfig;
use serde_json::{Value, json};
use storage::PoolOptions;
use storage::testing::{Backend, TestDatabase};
use uuid::Uuid;

pub struct TestServer {
    pub base: String,
    /// The default organization, where keys and jobs are made.
    pub organization: Uuid,
    http: reqwest::Client,
    owner_token: String,
    store: storage::Store,
    _db: TestDatabase,
}

impl Drop for TestServer {
    /// Before the database is dropped: the server's pool must not go on reconnecting to it.
    fn drop(&mut self) {
        self.store.close();
    }
}

/// An answer: its status and its body as JSON (`Null` when empty or not JSON).
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl TestServer {
    /// The server on a fresh database, with its first user signed in; `None` when the
    /// backend is not available here (PostgreSQL without `TEST_DATABASE_URL`).
    pub async fn spawn(backend: Backend) -> Option<Self> {
        let db = TestDatabase::new(backend)?;
        let mut config = ServerConfig::new("127.0.0.1:0", db.url());
        config.pool = PoolOptions { max_size: 8, connection_timeout: Duration::from_secs(5) };
        config.workers = Some(2);
        let application = api::Application::build(config).await.unwrap_or_else(|e| panic!("cannot start: {e:#}"));
        let base = format!("http://{}", application.address());
        let store = application.state().store.clone();
        actix_web::rt::spawn(application.run());
        let http = reqwest::Client::new();
        let mut server = Self { base, organization: Uuid::nil(), http, owner_token: String::new(), store, _db: db };
        server.sign_in_first_user().await;
        server.organization = server.get("/api/v2/organizations/default").await.id();
        Some(server)
    }

    async fn sign_in_first_user(&mut self) {
        let password = "correct-horse-battery-staple";
        let first = json!({ "email": "owner@example.com", "username": "owner", "name": "Owner", "password": password });
        assert_eq!(self.send("POST", "/api/v2/users/first", Some(first)).await.status, 201);
        let login = json!({ "email": "owner@example.com", "password": password });
        let reply = self.send("POST", "/api/v2/users/login", Some(login)).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        self.owner_token = reply.body["session_token"].as_str().unwrap_or_default().to_owned();
    }

    /// A request as the owner.
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !self.owner_token.is_empty() {
            request = request.header("Coder-Session-Token", &self.owner_token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null) }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None).await
    }

    /// A provisioner key of the default organization with these tags; returns its secret.
    pub async fn create_key(&self, name: &str, tags: Value) -> String {
        let path = format!("/api/v2/organizations/{}/provisionerkeys", self.organization);
        let reply = self.send("POST", &path, Some(json!({ "name": name, "tags": tags }))).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["key"].as_str().unwrap_or_default().to_owned()
    }

    /// A daemon client signed in with `key`.
    pub fn client(&self, key: &str) -> provisionerd::Client {
        provisionerd::Client::new(&self.base, key).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A pending `echo` job with these tags.
    pub async fn create_job(&self, tags: Value) -> Uuid {
        let path = format!("/api/v2/organizations/{}/provisionerjobs", self.organization);
        let body = json!({ "type": "template_version_import", "provisioner": "echo", "tags": tags });
        let reply = self.send("POST", &path, Some(body)).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.id()
    }

    pub async fn job(&self, job: Uuid) -> Value {
        let reply = self.get(&format!("/api/v2/organizations/{}/provisionerjobs/{job}", self.organization)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body
    }

    pub async fn cancel(&self, job: Uuid) -> Reply {
        let path = format!("/api/v2/organizations/{}/provisionerjobs/{job}/cancel", self.organization);
        self.send("POST", &path, Some(json!({}))).await
    }

    /// The job's log, as its lines' `output`.
    pub async fn log_outputs(&self, job: Uuid) -> Vec<String> {
        let reply = self.get(&format!("/api/v2/organizations/{}/provisionerjobs/{job}/logs", self.organization)).await;
        let lines = reply.body.as_array().cloned().unwrap_or_default();
        lines.iter().filter_map(|line| line["output"].as_str().map(str::to_owned)).collect()
    }

    /// Waits (20 s at most) for the job to reach `status`.
    pub async fn wait_for_status(&self, job: Uuid, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.job(job).await["status"] != status && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(self.job(job).await["status"], status, "job {job}");
    }
}

impl Reply {
    pub fn id(&self) -> Uuid {
        let raw = self.body["id"].as_str().unwrap_or_default();
        Uuid::try_parse(raw).unwrap_or_else(|_| panic!("no id in {}", self.body))
    }
}

/// Writes `async fn name(server: TestServer)` once and runs it on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    if let Some(server) = $crate::harness::TestServer::spawn(storage::testing::Backend::Sqlite).await {
                        super::$name(server).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    if let Some(server) = $crate::harness::TestServer::spawn(storage::testing::Backend::Postgres).await {
                        super::$name(server).await;
                    }
                }
            )*
        }
    };
}
