//! `api provisionerd`: a reference provisioner daemon speaking the plain-HTTP protocol. It
//! registers with a provisioner key, heartbeats, long-polls for jobs, "runs" each one for a
//! while (the `echo` provisioner: a few log lines), honours cancellation, and completes it.
//! Ctrl-C (or SIGTERM) fails the job in hand cleanly before exiting.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::config::parse_duration;
use crate::extract::DAEMON_KEY_HEADER;
use crate::wire::provisioner::daemon::{Log, UpdateJobResponse};
use crate::wire::provisioner::{ProvisionerDaemon, ProvisionerJob};

#[derive(Debug, Clone, Args)]
pub struct ProvisionerdArgs {
    /// The server, e.g. http://127.0.0.1:3000.
    #[arg(long, env = "API_URL")]
    pub url: String,
    /// A provisioner key of the organization to serve.
    #[arg(long, env = "API_PROVISIONER_KEY")]
    pub key: String,
    /// This daemon's name, unique in the organization.
    #[arg(long, env = "API_PROVISIONER_NAME")]
    pub name: String,
    /// Provisioner types to offer (repeat for several).
    #[arg(long = "provisioner", default_value = "echo")]
    pub provisioners: Vec<String>,
    /// How long each job takes.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub job_duration: Duration,
    /// Log lines written during each job.
    #[arg(long, default_value_t = 4)]
    pub log_lines: u32,
}

struct Daemon {
    http: reqwest::Client,
    base: String,
    key: String,
    id: Uuid,
    args: ProvisionerdArgs,
}

enum Acquired {
    Job(Box<ProvisionerJob>),
    Nothing,
    Unregistered,
}

/// The longest a running job goes without telling the server it is alive.
const CHECK_IN: Duration = Duration::from_secs(1);

/// How a job in hand ended.
enum Outcome {
    Done,
    Interrupted,
}

pub async fn run(args: ProvisionerdArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build()?;
    let base = args.url.trim_end_matches('/').to_owned();
    let mut daemon = Daemon { http, base, key: args.key.clone(), id: Uuid::nil(), args };
    daemon.register().await?;
    tracing::info!(daemon = %daemon.id, name = %daemon.args.name, "registered; waiting for jobs");
    let heartbeat = tokio::spawn(heartbeats(
        daemon.http.clone(),
        daemon.url(&format!("/provisionerdaemons/{}/heartbeat", daemon.id)),
        daemon.key.clone(),
    ));
    let mut stop = Box::pin(stop_signal());
    let result = loop {
        let acquired = {
            let acquire = daemon.acquire();
            tokio::pin!(acquire);
            tokio::select! {
            _ = &mut stop => {
                // The server may have handed us a job just as we were told to stop: the answer
                // comes at once if so. Such a job is failed, not left running without a daemon.
                if let Ok(Ok(Acquired::Job(job))) = tokio::time::timeout(Duration::from_secs(2), acquire).await {
                    daemon.give_up(&job).await?;
                }
                break Ok(());
            }
            acquired = &mut acquire => acquired,
            }
        };
        match acquired {
            Ok(Acquired::Job(job)) => match daemon.work(&job, &mut stop).await {
                Ok(Outcome::Done) => {}
                Ok(Outcome::Interrupted) => break Ok(()),
                Err(error) => tracing::warn!(job = %job.id, error = %format!("{error:#}"), "job ended badly"),
            },
            Ok(Acquired::Nothing) => {}
            // The key's daemons were removed (e.g. the key was recreated): announce again.
            Ok(Acquired::Unregistered) => daemon.register().await?,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "acquire failed; retrying");
                tokio::select! {
                    _ = &mut stop => break Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
    };
    heartbeat.abort();
    tracing::info!("stopped");
    result
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn heartbeats(http: reqwest::Client, url: String, key: String) {
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        if let Err(error) = http.post(&url).header(DAEMON_KEY_HEADER, &key).send().await {
            tracing::warn!(%error, "heartbeat failed");
        }
    }
}

impl Daemon {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v2{path}", self.base)
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).header(DAEMON_KEY_HEADER, &self.key)
    }

    async fn register(&mut self) -> anyhow::Result<()> {
        let body = json!({ "name": self.args.name, "provisioners": self.args.provisioners, "version": env!("CARGO_PKG_VERSION") });
        let response = self.post("/provisionerdaemons").json(&body).send().await.context("cannot reach the server")?;
        let daemon: ProvisionerDaemon = expect_json(response).await.context("cannot register")?;
        self.id = daemon.id;
        Ok(())
    }

    async fn acquire(&self) -> anyhow::Result<Acquired> {
        let response = self.post(&format!("/provisionerdaemons/{}/acquire?timeout=30", self.id)).send().await?;
        match response.status() {
            StatusCode::NO_CONTENT => Ok(Acquired::Nothing),
            StatusCode::NOT_FOUND => Ok(Acquired::Unregistered),
            _ => expect_json(response).await.map(|job| Acquired::Job(Box::new(job))),
        }
    }

    /// Fails a job this daemon will not run, saying why in its log.
    async fn give_up(&self, job: &ProvisionerJob) -> anyhow::Result<()> {
        let note = line("warn", "Interrupted: the provisioner daemon is shutting down.");
        let _ = self.update(job.id, vec![note]).await;
        let body = json!({ "error": "The provisioner daemon was stopped before the job finished." });
        let response =
            self.post(&format!("/provisionerdaemons/{}/jobs/{}/fail", self.id, job.id)).json(&body).send().await?;
        expect_json::<ProvisionerJob>(response).await?;
        tracing::info!(job = %job.id, "failed on shutdown");
        Ok(())
    }

    async fn update(&self, job: Uuid, logs: Vec<Log>) -> anyhow::Result<UpdateJobResponse> {
        let response = self
            .post(&format!("/provisionerdaemons/{}/jobs/{job}/update", self.id))
            .json(&json!({ "logs": logs }))
            .send()
            .await?;
        expect_json(response).await
    }

    async fn work(
        &self,
        job: &ProvisionerJob,
        stop: &mut std::pin::Pin<Box<impl Future<Output = ()>>>,
    ) -> anyhow::Result<Outcome> {
        tracing::info!(job = %job.id, "running");
        let steps = self.args.log_lines.max(1);
        let step = self.args.job_duration / steps;
        let mut canceled = false;
        'steps: for n in 1..=steps {
            // Report at least this often, so a cancellation is seen soon and the job never
            // looks hung to the reaper, however long a step is.
            let deadline = tokio::time::Instant::now() + step;
            loop {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    break;
                }
                tokio::select! {
                    _ = stop.as_mut() => {
                        self.give_up(job).await?;
                        return Ok(Outcome::Interrupted);
                    }
                    _ = tokio::time::sleep((deadline - now).min(CHECK_IN)) => {}
                }
                if tokio::time::Instant::now() < deadline && self.update(job.id, Vec::new()).await?.canceled {
                    canceled = true;
                    break 'steps;
                }
            }
            let reply = self.update(job.id, vec![line("info", &format!("echo: step {n} of {steps}"))]).await?;
            if reply.canceled {
                canceled = true;
                break;
            }
        }
        if canceled {
            self.update(job.id, vec![line("warn", "Canceled: stopping.")]).await?;
        }
        let response = self.post(&format!("/provisionerdaemons/{}/jobs/{}/complete", self.id, job.id)).send().await?;
        let done: ProvisionerJob = expect_json(response).await?;
        tracing::info!(job = %job.id, status = ?done.status, "finished");
        Ok(Outcome::Done)
    }
}

fn line(level: &str, output: &str) -> Log {
    Log { log_source: "provisioner".into(), log_level: level.into(), stage: "echo".into(), output: output.into() }
}

async fn expect_json<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> anyhow::Result<T> {
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("{status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("unexpected reply: {text}"))
}
