//! The reference daemon: it runs every job with the `echo` provisioner, which does nothing
//! but take its time and write a few log lines. It shows a whole daemon's duties: register,
//! heartbeat, long-poll for work, report progress often enough that cancellation is seen at
//! once and the job never looks hung, and on shutdown fail the job in hand rather than
//! leave it running without a daemon.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::client::{Client, Error};
use crate::wire::{FailJobRequest, Log, LogLevel, ProvisionerJob, RegisterRequest};

/// How the echo daemon presents itself and how long its jobs take.
#[derive(Debug, Clone)]
pub struct EchoConfig {
    /// The daemon's name, unique in its organization.
    pub name: String,
    /// Provisioner types to offer.
    pub provisioners: Vec<String>,
    /// How long each job takes.
    pub job_duration: Duration,
    /// Log lines written during each job (at least one).
    pub log_lines: u32,
}

/// The error a job fails with when the daemon stops in the middle of it.
pub const STOPPED_ERROR: &str = "The provisioner daemon was stopped before the job finished.";

/// How long each `acquire` waits on the server before asking again.
const ACQUIRE_WAIT: Duration = Duration::from_secs(30);

/// How often the daemon says it is alive, job or no job.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);

/// The longest a running job goes without telling the server it is alive.
const CHECK_IN: Duration = Duration::from_secs(1);

/// How long to wait after a failed `acquire` before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// On stop, how long an `acquire` in flight may take to bring a job the server handed over.
const LAST_ANSWER_WAIT: Duration = Duration::from_secs(2);

/// How a job in hand ended.
enum Outcome {
    Done,
    /// Stopped before the end; the job was failed, or could not be.
    Interrupted(Result<(), Error>),
}

/// A registered echo daemon, ready to serve.
pub struct EchoDaemon {
    client: Client,
    config: EchoConfig,
    id: Uuid,
    heartbeat: Option<JoinHandle<()>>,
}

impl EchoDaemon {
    /// Registers with the server and starts the heartbeats.
    pub async fn register(client: Client, config: EchoConfig) -> Result<Self, Error> {
        let mut daemon = Self { client, config, id: Uuid::nil(), heartbeat: None };
        daemon.announce().await?;
        tracing::info!(daemon = %daemon.id, name = %daemon.config.name, "registered; waiting for jobs");
        Ok(daemon)
    }

    /// The id the server gave this daemon.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Serves jobs until `stop` completes; then fails the job in hand, if any, and returns.
    /// Fails if the daemon must register again and cannot, or cannot fail its job on the
    /// way out.
    pub async fn serve(mut self, stop: impl Future<Output = ()>) -> Result<(), Error> {
        let mut stop = std::pin::pin!(stop);
        let result = self.serve_until(&mut stop).await;
        tracing::info!("stopped");
        result
    }

    /// Registers, and keeps the registration alive with heartbeats.
    async fn announce(&mut self) -> Result<(), Error> {
        let request = RegisterRequest {
            name: self.config.name.clone(),
            provisioners: self.config.provisioners.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        self.id = self.client.register(&request).await?.id;
        if let Some(previous) = self.heartbeat.replace(tokio::spawn(heartbeats(self.client.clone(), self.id))) {
            previous.abort();
        }
        Ok(())
    }

    async fn serve_until<S: Future<Output = ()>>(&mut self, stop: &mut Pin<&mut S>) -> Result<(), Error> {
        loop {
            let acquired = {
                let acquire = self.client.acquire(self.id, ACQUIRE_WAIT);
                tokio::pin!(acquire);
                tokio::select! {
                    _ = stop.as_mut() => {
                        // The server may have handed over a job just as the stop came: the
                        // answer is then on its way. Such a job is failed, not left running.
                        if let Ok(Ok(Some(job))) = tokio::time::timeout(LAST_ANSWER_WAIT, acquire).await {
                            self.give_up(&job).await?;
                        }
                        return Ok(());
                    }
                    acquired = &mut acquire => acquired,
                }
            };
            match acquired {
                Ok(Some(job)) => match self.work(&job, stop).await {
                    Ok(Outcome::Done) => {}
                    Ok(Outcome::Interrupted(result)) => return result,
                    Err(error) => tracing::warn!(job = %job.id, error = %error_chain(&error), "job ended badly"),
                },
                Ok(None) => {}
                // The key's daemons were removed (the key was deleted or replaced): announce
                // again.
                Err(error) if error.is_not_found() => self.announce().await?,
                Err(error) => {
                    tracing::warn!(error = %error_chain(&error), "acquire failed; retrying");
                    tokio::select! {
                        _ = stop.as_mut() => return Ok(()),
                        _ = tokio::time::sleep(RETRY_AFTER) => {}
                    }
                }
            }
        }
    }

    /// Runs a job in `log_lines` steps, checking in at least every second.
    async fn work<S: Future<Output = ()>>(
        &self,
        job: &ProvisionerJob,
        stop: &mut Pin<&mut S>,
    ) -> Result<Outcome, Error> {
        tracing::info!(job = %job.id, "running");
        let steps = self.config.log_lines.max(1);
        let step = self.config.job_duration / steps;
        let mut canceled = false;
        'steps: for n in 1..=steps {
            let deadline = Instant::now() + step;
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                tokio::select! {
                    _ = stop.as_mut() => return Ok(Outcome::Interrupted(self.give_up(job).await)),
                    _ = tokio::time::sleep((deadline - now).min(CHECK_IN)) => {}
                }
                if Instant::now() < deadline && self.client.update(self.id, job.id, Vec::new()).await?.canceled {
                    canceled = true;
                    break 'steps;
                }
            }
            let line = Log::provisioner(LogLevel::Info, "echo", &format!("echo: step {n} of {steps}"));
            if self.client.update(self.id, job.id, vec![line]).await?.canceled {
                canceled = true;
                break;
            }
        }
        if canceled {
            let line = Log::provisioner(LogLevel::Warn, "echo", "Canceled: stopping.");
            self.client.update(self.id, job.id, vec![line]).await?;
        }
        let done = self.client.complete(self.id, job.id).await?;
        tracing::info!(job = %job.id, status = ?done.status, "finished");
        Ok(Outcome::Done)
    }

    /// Fails a job this daemon will not finish, saying why in its log.
    async fn give_up(&self, job: &ProvisionerJob) -> Result<(), Error> {
        let note = Log::provisioner(LogLevel::Warn, "echo", "Interrupted: the provisioner daemon is shutting down.");
        // The failure below is what matters; a lost note is not worth stopping for.
        let _ = self.client.update(self.id, job.id, vec![note]).await;
        let request = FailJobRequest { error: STOPPED_ERROR.to_owned(), error_code: None };
        self.client.fail(self.id, job.id, &request).await?;
        tracing::info!(job = %job.id, "failed on shutdown");
        Ok(())
    }
}

async fn heartbeats(client: Client, daemon: Uuid) {
    loop {
        tokio::time::sleep(HEARTBEAT_EVERY).await;
        if let Err(error) = client.heartbeat(daemon).await {
            tracing::warn!(error = %error_chain(&error), "heartbeat failed");
        }
    }
}

impl Drop for EchoDaemon {
    fn drop(&mut self) {
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
    }
}

/// An error and its causes on one line.
fn error_chain(error: &Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
