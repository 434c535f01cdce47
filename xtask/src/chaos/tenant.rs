//! The first user, a session and a provisioner key on a fresh server, through the API.

use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

use super::http::{Auth, Http, Recorder, Reply};
use super::server::Endpoint;

pub const OWNER_EMAIL: &str = "chaos@example.com";
pub const PASSWORD: &str = "correct-horse-battery-staple";

/// Who the scenarios act as.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The owner's session token.
    pub token: String,
    /// The first user's id.
    pub owner: String,
    /// The default organization's id.
    pub organization: String,
    /// An untagged provisioner key of that organization.
    pub key: String,
}

impl Tenant {
    pub fn auth(&self) -> Auth<'_> {
        Auth::Session(&self.token)
    }

    pub fn jobs_path(&self) -> String {
        format!("/api/v2/organizations/{}/provisionerjobs", self.organization)
    }
}

fn setup_client() -> anyhow::Result<Http> {
    Http::new(&Recorder::default(), Duration::from_secs(60))
}

fn expect(reply: Reply, status: u16, what: &str) -> anyhow::Result<Value> {
    if !reply.is(status) {
        bail!("setup: {what} answered {:?}: {}", reply.status, reply.message());
    }
    Ok(reply.json())
}

/// Creates the first user (an owner) on a fresh database, signs in, makes a key.
pub fn bootstrap(server: &Endpoint) -> anyhow::Result<Tenant> {
    let http = setup_client()?;
    let first = json!({"email": OWNER_EMAIL, "username": "chaos", "name": "Chaos", "password": PASSWORD});
    let created = expect(
        http.post(server, "first user", "/api/v2/users/first", Auth::Anonymous, &first),
        201,
        "POST /users/first",
    )?;
    let organization = created["organization_id"].as_str().unwrap_or_default().to_owned();
    let owner = created["user_id"].as_str().unwrap_or_default().to_owned();
    let token = sign_in(server)?;
    let mut tenant = Tenant { token, owner, organization, key: String::new() };
    tenant.key = provisioner_key(server, &tenant, "chaos", &json!({}))?;
    Ok(tenant)
}

/// A new session for the owner (each replica or restarted database keeps the old ones).
pub fn sign_in(server: &Endpoint) -> anyhow::Result<String> {
    let http = setup_client()?;
    let login = json!({"email": OWNER_EMAIL, "password": PASSWORD});
    let session =
        expect(http.post(server, "login", "/api/v2/users/login", Auth::Anonymous, &login), 201, "POST /users/login")?;
    Ok(session["session_token"].as_str().unwrap_or_default().to_owned())
}

/// A provisioner key of the tenant's organization with `tags`; its secret.
pub fn provisioner_key(server: &Endpoint, tenant: &Tenant, name: &str, tags: &Value) -> anyhow::Result<String> {
    let http = setup_client()?;
    let path = format!("/api/v2/organizations/{}/provisionerkeys", tenant.organization);
    let body = json!({"name": name, "tags": tags});
    let key = expect(http.post(server, "provisioner key", &path, tenant.auth(), &body), 201, "POST provisionerkeys")?;
    Ok(key["key"].as_str().unwrap_or_default().to_owned())
}

/// Every job of the organization, newest first (retries while the server is coming back).
pub fn all_jobs(server: &Endpoint, tenant: &Tenant) -> anyhow::Result<Vec<Value>> {
    let http = setup_client()?;
    let path = format!("{}?limit=0", tenant.jobs_path());
    let mut last = None;
    for _ in 0..50 {
        let reply = http.get(server, "list jobs", &path, tenant.auth());
        if reply.is(200) {
            return match reply.json() {
                Value::Array(jobs) => Ok(jobs),
                other => {
                    bail!("the job list is not an array: {}", other.to_string().chars().take(200).collect::<String>())
                }
            };
        }
        last = Some(format!("{:?} {}", reply.status, reply.message()));
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("cannot list the jobs: {}", last.unwrap_or_default())
}

/// The outputs of a job's log lines.
pub fn log_outputs(http: &Http, server: &Endpoint, tenant: &Tenant, job: &str) -> anyhow::Result<Vec<String>> {
    let path = format!("{}/{job}/logs", tenant.jobs_path());
    let reply = http.get(server, "job logs", &path, tenant.auth());
    if !reply.is(200) {
        bail!("logs of {job} answered {:?}: {}", reply.status, reply.message());
    }
    Ok(reply
        .json()
        .as_array()
        .map(|lines| lines.iter().filter_map(|line| line["output"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default())
}
