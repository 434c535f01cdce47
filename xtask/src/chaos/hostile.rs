//! NUL bytes where a client may put text: every text field of every write (a `\u0000` in
//! JSON), `%00` in path segments and query values, and the reads of whatever was stored.
//! Whatever the server decides (store it, or refuse with 400), it must never answer 5xx.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::db::{Database, Engine};
use super::http::{Auth, Http, Recorder, Reply};
use super::server::{ApiServer, Endpoint};
use super::tenant::{OWNER_EMAIL, PASSWORD, Tenant, bootstrap};
use super::{Context, Outcome};

const NUL: &str = "nul\u{0}byte";

/// Each request (described) and its status, `None` when unanswered.
type Answers = Vec<(String, Option<u16>)>;

/// The answers of the first backend run, to compare the second with.
static FIRST_RUN: Mutex<Option<(Engine, Answers)>> = Mutex::new(None);

struct Prober<'a> {
    http: Http,
    server: &'a Endpoint,
    tenant: &'a Tenant,
    answers: Answers,
}

impl Prober<'_> {
    fn send(&mut self, label: &str, method: Method, path: &str, auth: Auth<'_>, body: Option<Value>) -> Reply {
        let reply = self.http.send(self.server, "hostile", method.clone(), path, auth, body.as_ref(), Duration::ZERO);
        self.answers.push((format!("{method} {label}"), reply.status));
        reply
    }

    fn owner(&mut self, label: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
        let token = self.tenant.token.clone();
        self.send(label, method, path, Auth::Session(&token), body)
    }

    fn daemon(&mut self, label: &str, path: &str, body: Option<Value>) -> Reply {
        let key = self.tenant.key.clone();
        self.send(label, Method::POST, path, Auth::Daemon(&key), body)
    }
}

pub fn run(cx: &Context, engine: Engine) -> anyhow::Result<Outcome> {
    let dir = cx.dir(&format!("nul-{}", engine.name()));
    let db = Database::fresh(engine, &dir, &cx.postgres_url)?;
    let mut server = ApiServer::start(&cx.binary, "server", &db.url(), &cx.flags(&[]), &dir)?;
    let endpoint = server.endpoint();
    let tenant = bootstrap(&endpoint)?;
    let mut p = Prober {
        http: Http::new(&Recorder::default(), Duration::from_secs(30))?,
        server: &endpoint,
        tenant: &tenant,
        answers: Vec::new(),
    };
    let org = tenant.organization.clone();
    let orgs = "/api/v2/organizations".to_owned();

    // Organizations: create and PATCH, each text field in turn.
    for (n, field) in ["display_name", "description", "icon"].iter().enumerate() {
        let mut body = json!({"name": format!("nul-create-{n}")});
        body[*field] = json!(NUL);
        p.owner(&format!("/organizations ({field})"), Method::POST, &orgs, Some(body));
    }
    p.owner("/organizations (name)", Method::POST, &orgs, Some(json!({"name": NUL})));
    p.owner("/organizations (target)", Method::POST, &orgs, Some(json!({"name": "nul-target"})));
    for field in ["display_name", "description", "icon", "name"] {
        let mut body = json!({});
        body[field] = json!(NUL);
        p.owner(&format!("/organizations/{{org}} ({field})"), Method::PATCH, &format!("{orgs}/nul-target"), Some(body));
    }

    // Users and tokens.
    let users = "/api/v2/users";
    let user = |name: &str, username: &str, email: &str| json!({"name": name, "username": username, "email": email, "password": PASSWORD, "organization_ids": []});
    p.owner("/users (name)", Method::POST, users, Some(user(NUL, "nul-user", "nul-user@example.com")));
    p.owner("/users (username)", Method::POST, users, Some(user("N", NUL, "nul-user2@example.com")));
    p.owner("/users (email)", Method::POST, users, Some(user("N", "nul-user3", "nul\u{0}@example.com")));
    p.owner(
        "/users/me/keys/tokens (token_name)",
        Method::POST,
        "/api/v2/users/me/keys/tokens",
        Some(json!({"token_name": NUL})),
    );
    p.send(
        "/users/login (email)",
        Method::POST,
        "/api/v2/users/login",
        Auth::Anonymous,
        Some(json!({"email": NUL, "password": PASSWORD})),
    );
    p.send(
        "/users/login (password)",
        Method::POST,
        "/api/v2/users/login",
        Auth::Anonymous,
        Some(json!({"email": OWNER_EMAIL, "password": NUL})),
    );

    // Provisioner keys.
    let keys = format!("{orgs}/{org}/provisionerkeys");
    p.owner("/provisionerkeys (name)", Method::POST, &keys, Some(json!({"name": NUL})));
    p.owner(
        "/provisionerkeys (tag value)",
        Method::POST,
        &keys,
        Some(json!({"name": "nul-value", "tags": {"k": NUL}})),
    );
    p.owner("/provisionerkeys (tag key)", Method::POST, &keys, Some(json!({"name": "nul-key", "tags": {NUL: "v"}})));

    // Daemons, jobs and logs.
    let daemons = "/api/v2/provisionerdaemons";
    let register = |name: &str, version: &str| json!({"name": name, "provisioners": ["terraform"], "version": version});
    p.daemon("/provisionerdaemons (version)", daemons, Some(register("nul-version", NUL)));
    p.daemon("/provisionerdaemons (name)", daemons, Some(register(NUL, "v1")));
    let daemon = p
        .daemon("/provisionerdaemons (plain)", daemons, Some(register("nul-worker", "v1")))
        .text("id")
        .unwrap_or_default();
    let jobs = format!("{orgs}/{org}/provisionerjobs");
    let job = |extra: Value| {
        let mut body = json!({"type": "template_version_import", "provisioner": "terraform", "tags": {}});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    p.owner("/provisionerjobs (plain)", Method::POST, &jobs, Some(job(json!({}))));
    p.owner(
        "/provisionerjobs (metadata)",
        Method::POST,
        &jobs,
        Some(job(json!({"metadata": {"template_name": NUL, "workspace_name": NUL}}))),
    );
    p.owner("/provisionerjobs (tag value)", Method::POST, &jobs, Some(job(json!({"tags": {"k": NUL}}))));
    p.owner("/provisionerjobs (tag key)", Method::POST, &jobs, Some(job(json!({"tags": {NUL: "v"}}))));
    p.owner("/provisionerjobs (provisioner)", Method::POST, &jobs, Some(job(json!({"provisioner": NUL}))));
    p.owner("/provisionerjobs (type)", Method::POST, &jobs, Some(job(json!({"type": NUL}))));
    let acquired = p.daemon("/provisionerdaemons/{id}/acquire", &format!("{daemons}/{daemon}/acquire?timeout=1"), None);
    let job_id = acquired.text("id").unwrap_or_else(|| "00000000-0000-0000-0000-000000000000".into());
    let job_path = format!("{daemons}/{daemon}/jobs/{job_id}");
    let log = |stage: &str, output: &str| json!({"logs": [{"log_source": "provisioner", "log_level": "info", "stage": stage, "output": output}]});
    p.daemon(".../update (output)", &format!("{job_path}/update"), Some(log("plan", NUL)));
    p.daemon(".../update (stage)", &format!("{job_path}/update"), Some(log(NUL, "line")));
    p.daemon(".../fail (error)", &format!("{job_path}/fail"), Some(json!({"error": NUL, "error_code": ""})));

    // Reads of whatever was stored.
    for (label, path) in [
        ("/organizations", orgs.clone()),
        ("/organizations/{org}", format!("{orgs}/nul-target")),
        ("/users", users.to_owned()),
        ("/users/me/keys/tokens", "/api/v2/users/me/keys/tokens".to_owned()),
        ("/provisionerkeys", keys.clone()),
        ("/provisionerdaemons", format!("{orgs}/{org}/provisionerdaemons")),
        ("/provisionerjobs?limit=0", format!("{jobs}?limit=0")),
        ("/provisionerjobs/{job}", format!("{jobs}/{job_id}")),
        ("/provisionerjobs/{job}/logs", format!("{jobs}/{job_id}/logs")),
    ] {
        p.owner(&format!("{label} (read back)"), Method::GET, &path, None);
    }

    // %00 in path segments and query values.
    let encoded = urlencode(&json!({"k": NUL}).to_string());
    for (method, path) in [
        (Method::GET, "/api/v2/organizations/%00".to_owned()),
        (Method::GET, "/api/v2/users/a%00b".to_owned()),
        (Method::GET, "/api/v2/organizations/%00/members".to_owned()),
        (Method::GET, "/api/v2/organizations/%00/provisionerjobs".to_owned()),
        (Method::GET, format!("{jobs}/%00")),
        (Method::GET, format!("{jobs}/a%00b/logs")),
        (Method::GET, "/api/v2/users/%00/organizations".to_owned()),
        (Method::GET, "/api/v2/users/me/organizations/a%00b".to_owned()),
        (Method::GET, "/api/v2/users/a%00b/keys/tokens".to_owned()),
        (Method::PATCH, "/api/v2/organizations/a%00b".to_owned()),
        (Method::DELETE, "/api/v2/organizations/a%00b".to_owned()),
        (Method::DELETE, format!("{keys}/a%00b")),
        (Method::POST, format!("{orgs}/{org}/members/a%00b")),
        (Method::DELETE, "/api/v2/users/me/keys/a%00b".to_owned()),
        (Method::GET, format!("{jobs}?tags={encoded}")),
        (Method::GET, format!("{orgs}/{org}/provisionerdaemons?tags={encoded}")),
        (Method::GET, format!("{jobs}?initiator=%00")),
        (Method::GET, format!("{jobs}?status=%00")),
        (Method::GET, format!("{jobs}?ids=%00")),
    ] {
        let body = (method == Method::PATCH).then(|| json!({}));
        p.owner(&path.replace(&org, "{org}"), method, &path, body);
    }
    p.daemon("/provisionerdaemons/%00/acquire", "/api/v2/provisionerdaemons/%00/acquire?timeout=0", None);
    p.daemon(".../jobs/%00/update", &format!("{daemons}/{daemon}/jobs/%00/update"), Some(log("plan", "x")));

    let answers = std::mem::take(&mut p.answers);
    server.stop();
    let problems: Vec<String> = answers
        .iter()
        .filter(|(_, status)| status.is_none_or(|s| s >= 500))
        .map(|(label, status)| format!("{label} → {}", status.map_or("no answer".into(), |s| s.to_string())))
        .collect();
    let notes = compare_with_first_run(engine, &answers);
    Ok(Outcome {
        summary: format!(
            "{} requests with NUL in a field, path or query: {} answered 5xx",
            answers.len(),
            if problems.is_empty() { "none".to_owned() } else { problems.len().to_string() }
        ),
        problems,
        notes,
    })
}

/// The two backends should answer alike; differences are worth a note.
fn compare_with_first_run(engine: Engine, answers: &[(String, Option<u16>)]) -> Vec<String> {
    let Ok(mut first) = FIRST_RUN.lock() else { return Vec::new() };
    match first.as_ref() {
        None => {
            *first = Some((engine, answers.to_vec()));
            Vec::new()
        }
        Some((other, earlier)) => earlier
            .iter()
            .zip(answers)
            // 5xx are problems already; this is about two sound answers that disagree.
            .filter(|((_, a), (_, b))| a != b && a.is_some_and(|s| s < 500) && b.is_some_and(|s| s < 500))
            .map(|((label, a), (_, b))| {
                let show = |s: &Option<u16>| s.map_or("no answer".into(), |s| s.to_string());
                format!("{label}: {} here, {} on {}", show(b), show(a), other.name())
            })
            .collect(),
    }
}

fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
