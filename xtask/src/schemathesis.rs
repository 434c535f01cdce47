//! `cargo xtask schemathesis`: the property-based API fuzzer schemathesis, in its strictest
//! mode, against a freshly started release server on SQLite and on a throw-away PostgreSQL
//! database. Any failure of any check fails the task.
//!
//! The fuzzer signs in as the first user (an owner). `POST /users/logout` deletes the key a
//! request is made with, so it runs in a pass of its own at the end, with a session of its own;
//! everything else runs first with a token that outlives the run. Paths are mostly given
//! values that exist, so routes are fuzzed past their look-ups: before the run a provisioner
//! key is made and daemons registered with it, each holding a job ([`DaemonsAtWork`]), and a
//! member and an organization are added ([`People`]); `schemathesis.toml` binds parameters to
//! them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use storage::testing::{Backend, TestDatabase};

use crate::bench::{BackendChoice, Common};

#[derive(Debug, Clone, Args)]
pub struct SchemathesisArgs {
    #[command(flatten)]
    pub common: Common,
    /// The schemathesis executable (`.ci/run` installs the pinned version into a virtual environment).
    #[arg(long, default_value = "schemathesis")]
    pub schemathesis: PathBuf,
    /// Time budget of the main pass on each backend, in seconds.
    #[arg(long, default_value_t = 150)]
    pub max_time: u64,
    /// Seed for the generated data (default: a new one each run, printed by schemathesis).
    #[arg(long)]
    pub seed: Option<u128>,
    /// Concurrent fuzzing workers.
    #[arg(long, default_value_t = 2)]
    pub workers: u32,
    /// The server binary to start (default: build `target/release/api`).
    #[arg(long)]
    pub server: Option<PathBuf>,
}

const LOGOUT: &str = "log-out-user";
const PASSWORD: &str = "fuzz-correct-horse-battery-staple";

pub fn run(args: &SchemathesisArgs) -> anyhow::Result<()> {
    let server = match &args.server {
        Some(server) => absolute(server)?,
        None => crate::release::build_api()?,
    };
    // schemathesis runs from the reports' folder: a path given relative to here must still hold.
    let args = &SchemathesisArgs {
        schemathesis: if args.schemathesis.components().count() > 1 {
            absolute(&args.schemathesis)?
        } else {
            args.schemathesis.clone()
        },
        ..args.clone()
    };
    let mut failed = Vec::new();
    for backend in backends(args.common.backend) {
        let name = format!("{backend:?}").to_lowercase();
        println!("== schemathesis on {name}");
        let database = match backend {
            Backend::Sqlite => TestDatabase::sqlite(),
            Backend::Postgres => TestDatabase::postgres_at(&args.common.postgres_url),
        };
        if let Err(error) = fuzz(&server, database.url(), &name, args) {
            eprintln!("schemathesis on {name}: {error:#}");
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        bail!("schemathesis did not pass on {}", failed.join(" and "));
    }
    println!("schemathesis: no failures");
    Ok(())
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("no such path: {}", path.display()))
}

/// CI asks for both backends and must fail, not skip, when PostgreSQL is missing.
fn backends(choice: BackendChoice) -> Vec<Backend> {
    match choice {
        BackendChoice::Sqlite => vec![Backend::Sqlite],
        BackendChoice::Postgres => vec![Backend::Postgres],
        BackendChoice::All => vec![Backend::Sqlite, Backend::Postgres],
    }
}

/// Where the runs' reports, server logs and schemathesis's own cache go.
fn reports() -> PathBuf {
    workspace_root().join("target/schemathesis")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A server process of ours, stopped when dropped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(binary: &Path, database_url: &str, name: &str) -> anyhow::Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let address = format!("127.0.0.1:{port}");
        std::fs::create_dir_all(reports())?;
        let log = reports().join(format!("{name}-server.log"));
        let mut command = Command::new(binary);
        command.args(["serve", "--http-address", &address, "--database-url", database_url]);
        // The fuzzer sends far more than a person would, and signs in far more often: without
        // this it would mostly meet 429s.
        command.args(["--api-rate-limit", "0", "--login-rate-limit", "0"]);
        let output = std::fs::File::create(&log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let server = Self { child, base: format!("http://{address}"), log };
        server.wait_until_ready()?;
        Ok(server)
    }

    fn wait_until_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if client.get(format!("{}/healthz", self.base)).send().is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!("the server did not answer within a minute; see {}", self.log.display())
    }

    fn post(&self, path: &str, token: Option<&str>, body: Value) -> anyhow::Result<Value> {
        self.post_as(path, token.map(|token| ("Coder-Session-Token", token)), body)
    }

    /// A `POST` signed in with `credential`, a header and its value.
    fn post_as(&self, path: &str, credential: Option<(&str, &str)>, body: Value) -> anyhow::Result<Value> {
        let request = reqwest::blocking::Client::new().post(format!("{}{path}", self.base)).json(&body);
        let request = match credential {
            Some((header, value)) => request.header(header, value),
            None => request,
        };
        answer(request, "POST", path)
    }

    fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        let request = reqwest::blocking::Client::new().get(format!("{}{path}", self.base));
        answer(request.header("Coder-Session-Token", token), "GET", path)
    }

    /// The first user, signed in: a session token.
    fn sign_in(&self, first: bool) -> anyhow::Result<String> {
        let email = "owner@example.com";
        if first {
            let user = json!({ "email": email, "username": "owner", "name": "Owner", "password": PASSWORD });
            self.post("/api/v2/users/first", None, user)?;
        }
        let session = self.post("/api/v2/users/login", None, json!({ "email": email, "password": PASSWORD }))?;
        session["session_token"].as_str().map(str::to_owned).context("no session token")
    }
}

fn fuzz(binary: &Path, database_url: &str, name: &str, args: &SchemathesisArgs) -> anyhow::Result<()> {
    let server = Server::start(binary, database_url, name)?;
    let session = server.sign_in(true)?;
    // A token, not the session: it outlives the run and is what scripts use.
    let token = server.post("/api/v2/users/me/keys/tokens", Some(&session), json!({ "token_name": "schemathesis" }))?;
    let token = token["key"].as_str().context("no token")?.to_owned();
    DaemonsAtWork::start(&server, &token)?.write_dictionaries()?;
    People::start(&server, &token)?.write_dictionaries()?;
    let main = schemathesis(&server, &token, args, &format!("{name}-main"))
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-time", &args.max_time.to_string()])
        .args(["--exclude-operation-id", LOGOUT])
        .status()
        .context("cannot run schemathesis")?;
    let logout = schemathesis(&server, &server.sign_in(false)?, args, &format!("{name}-logout"))
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--include-operation-id", LOGOUT])
        .status()
        .context("cannot run schemathesis")?;
    if !main.success() || !logout.success() {
        bail!("failures found; the server's log is {}", server.log.display());
    }
    Ok(())
}

/// The JSON body of a successful answer to `request`; any other answer is an error.
fn answer(request: reqwest::blocking::RequestBuilder, method: &str, path: &str) -> anyhow::Result<Value> {
    let response = request.send()?;
    let status = response.status();
    let body: Value = response.json().unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{method} {path} answered {status}: {body}");
    }
    Ok(body)
}

/// How many daemons the fuzzer finds at work, each holding a job.
const DAEMONS: usize = 3;
/// Jobs left waiting for the fuzzer's acquires.
const WAITING: usize = 300;

/// A provisioner key of the default organization, daemons registered with it, and the jobs they
/// hold: the values `schemathesis.toml`'s dictionaries give the daemons' routes.
struct DaemonsAtWork {
    key: String,
    daemons: Vec<String>,
    jobs: Vec<String>,
}

impl DaemonsAtWork {
    fn start(server: &Server, token: &str) -> anyhow::Result<Self> {
        let key = server.post(
            "/api/v2/organizations/default/provisionerkeys",
            Some(token),
            json!({ "name": "schemathesis", "tags": {} }),
        )?;
        let key = key["key"].as_str().context("no provisioner key")?.to_owned();
        let signed_in = Some(("Coder-Provisioner-Daemon-Key", key.as_str()));
        let create_job = |provisioner: &str| {
            let job = json!({ "type": "template_version_import", "provisioner": provisioner, "tags": {} });
            server.post("/api/v2/organizations/default/provisionerjobs", Some(token), job)
        };
        let (mut daemons, mut jobs) = (Vec::new(), Vec::new());
        for n in 1..=DAEMONS {
            create_job("echo")?;
            let daemon = json!({ "name": format!("fuzzed-{n}"), "provisioners": ["echo"], "version": "fuzz" });
            let daemon = server.post_as("/api/v2/provisionerdaemons", signed_in, daemon)?;
            let daemon = daemon["id"].as_str().context("no daemon id")?.to_owned();
            let job = server.post_as(
                &format!("/api/v2/provisionerdaemons/{daemon}/acquire?timeout=0"),
                signed_in,
                json!({}),
            )?;
            jobs.push(job["id"].as_str().context("the daemon took no job")?.to_owned());
            daemons.push(daemon);
        }
        // Waiting jobs of either provisioner (a daemon the fuzzer registers offers either), so
        // that an acquire the fuzzer makes mostly answers at once rather than wait out its
        // timeout (30 s when it names none).
        for n in 0..WAITING {
            create_job(if n % 2 == 0 { "echo" } else { "terraform" })?;
        }
        Ok(Self { key, daemons, jobs })
    }

    fn write_dictionaries(&self) -> anyhow::Result<()> {
        write_dictionary("daemon-keys", std::slice::from_ref(&self.key))?;
        write_dictionary("daemons", &self.daemons)?;
        write_dictionary("jobs", &self.jobs)
    }
}

/// Users and organizations the fuzzer's paths name, by name and by id: the owner it signs in
/// as, a member of the default organization, and an organization of the owner's own.
struct People {
    users: Vec<String>,
    organizations: Vec<String>,
    organization_names: Vec<String>,
}

impl People {
    fn start(server: &Server, token: &str) -> anyhow::Result<Self> {
        let id = |value: &Value, what: &str| {
            value["id"].as_str().map(str::to_owned).with_context(|| format!("no {what} id"))
        };
        let default = server.get("/api/v2/organizations/default", token)?;
        let default_id = id(&default, "organization")?;
        let owner = server.get("/api/v2/users/me", token)?;
        let acme = server.post("/api/v2/organizations", Some(token), json!({ "name": "acme" }))?;
        let member = json!({
            "email": "member@example.com",
            "username": "fuzz-member",
            "password": PASSWORD,
            "organization_ids": [default_id],
        });
        let member = server.post("/api/v2/users", Some(token), member)?;
        Ok(Self {
            users: vec!["me".into(), "owner".into(), id(&owner, "user")?, "fuzz-member".into(), id(&member, "user")?],
            organizations: vec!["default".into(), default_id, "acme".into(), id(&acme, "organization")?],
            organization_names: vec![default["name"].as_str().context("no name")?.to_owned(), "acme".into()],
        })
    }

    fn write_dictionaries(&self) -> anyhow::Result<()> {
        write_dictionary("users", &self.users)?;
        write_dictionary("organizations", &self.organizations)?;
        write_dictionary("organization-names", &self.organization_names)
    }
}

/// A dictionary for `schemathesis.toml`: each value quoted on a line of its own.
fn write_dictionary(name: &str, values: &[String]) -> anyhow::Result<()> {
    let lines: String = values.iter().map(|value| format!("\"{value}\"\n")).collect();
    Ok(std::fs::write(reports().join(format!("{name}.dict")), lines)?)
}

fn schemathesis(server: &Server, token: &str, args: &SchemathesisArgs, report: &str) -> Command {
    let mut command = Command::new(&args.schemathesis);
    // Its cache of failing cases (for `st replay`) is written where it runs: under target/.
    command
        .current_dir(reports())
        .arg("--config-file")
        .arg(workspace_root().join("schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/swagger/doc.json", server.base))
        .args(["--url", &server.base])
        .args(["--header", &format!("Coder-Session-Token: {token}")])
        .args(["--checks", "all", "--exclude-checks", "ignored_auth"])
        .args(["--workers", &args.workers.to_string()])
        .args(["--report", "junit"])
        .arg("--report-junit-path")
        .arg(reports().join(format!("{report}.xml")))
        .arg("--no-color");
    if let Some(seed) = args.seed {
        command.args(["--seed", &seed.to_string()]);
    }
    command
}
