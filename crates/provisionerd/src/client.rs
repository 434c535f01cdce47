//! One method per route of the daemon protocol.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::wire::{
    FailJobRequest, Log, ProvisionerDaemon, ProvisionerJob, RegisterRequest, Response, UpdateJobRequest,
    UpdateJobResponse,
};

/// The header a daemon presents its provisioner key in.
pub const DAEMON_KEY_HEADER: &str = "Coder-Provisioner-Daemon-Key";

/// The longest `acquire` may wait on the server's side.
pub const MAX_ACQUIRE_WAIT: Duration = Duration::from_secs(60);

/// A connection to one server, signed in with one provisioner key.
///
/// Cheap to clone: clones share their connection pool. No request has an overall timeout,
/// since `acquire` waits on purpose; connecting gives up after ten seconds.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// `http://host:port/api/v2`, without a trailing slash.
    api: String,
    key: String,
}

/// Why a call did not give the answer it promises.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL given to [`Client::new`] is not a plain `http` URL with a host.
    #[error("invalid server URL {0:?}: expected http://host:port (the protocol is plain HTTP)")]
    Url(String),
    /// The request did not get an answer: no connection, or it broke.
    #[error("cannot reach the server")]
    Transport(#[source] reqwest::Error),
    /// The server refused, with its status and `{message, detail, validations}`.
    #[error("{status}: {response}")]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The server's explanation.
        response: Response,
    },
    /// The server answered with something this client cannot read.
    #[error("unexpected answer ({status}): {body}")]
    Decode {
        /// The HTTP status.
        status: StatusCode,
        /// The answer, as text.
        body: String,
        /// What did not fit.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// The HTTP status of a refusal, if the server refused.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } | Self::Decode { status, .. } => Some(*status),
            Self::Url(_) | Self::Transport(_) => None,
        }
    }

    /// The server does not know the daemon (or the job) named: for a daemon that was
    /// registered before, its key was deleted or replaced, so register again.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }
}

impl Client {
    /// A client for the server at `url` (`http://127.0.0.1:3000`) using the provisioner `key`.
    pub fn new(url: &str, key: &str) -> Result<Self, Error> {
        let base = url.trim_end_matches('/');
        let parsed = reqwest::Url::parse(base).map_err(|_| Error::Url(url.to_owned()))?;
        // Built without TLS, as the server is: an `https` URL would only fail later, at the
        // first request.
        if parsed.scheme() != "http" || parsed.host().is_none() {
            return Err(Error::Url(url.to_owned()));
        }
        let http =
            reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().map_err(Error::Transport)?;
        Ok(Self { http, api: format!("{base}/api/v2"), key: key.to_owned() })
    }

    /// Announces the daemon (again, if the name exists) and returns it: its id, and the
    /// organization and tags its key gives it.
    pub async fn register(&self, request: &RegisterRequest) -> Result<ProvisionerDaemon, Error> {
        self.call(Method::POST, "/provisionerdaemons".to_owned(), Some(request)).await
    }

    /// Tells the server the daemon is alive: without a sign of life for a while (90 s by
    /// default) it counts as offline and jobs stop being queued for it.
    pub async fn heartbeat(&self, daemon: Uuid) -> Result<(), Error> {
        let response = self.send(Method::POST, format!("/provisionerdaemons/{daemon}/heartbeat"), None::<&()>).await?;
        refusal(response).await.map(drop)
    }

    /// Takes the oldest pending job this daemon may run, waiting up to `wait` (whole
    /// seconds, at most [`MAX_ACQUIRE_WAIT`]) for one to arrive. The job comes back
    /// `running` and held by this daemon; `None` when the time ran out.
    ///
    /// A daemon that stops waiting (drops the future) is not handed a job: the server
    /// checks that the caller is still there before it gives one away.
    pub async fn acquire(&self, daemon: Uuid, wait: Duration) -> Result<Option<ProvisionerJob>, Error> {
        let seconds = wait.min(MAX_ACQUIRE_WAIT).as_secs();
        let path = format!("/provisionerdaemons/{daemon}/acquire?timeout={seconds}");
        let response = self.send(Method::POST, path, None::<&()>).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        json(response).await.map(Some)
    }

    /// Appends log lines to a job this daemon holds (none: just a sign of life, which
    /// keeps the job from looking hung). The answer says whether cancellation was asked for.
    pub async fn update(&self, daemon: Uuid, job: Uuid, logs: Vec<Log>) -> Result<UpdateJobResponse, Error> {
        let path = format!("/provisionerdaemons/{daemon}/jobs/{job}/update");
        self.call(Method::POST, path, Some(&UpdateJobRequest { logs })).await
    }

    /// Ends a job this daemon holds: `succeeded`, or `canceled` if cancellation was asked for.
    pub async fn complete(&self, daemon: Uuid, job: Uuid) -> Result<ProvisionerJob, Error> {
        let path = format!("/provisionerdaemons/{daemon}/jobs/{job}/complete");
        self.call(Method::POST, path, None::<&()>).await
    }

    /// Ends a job this daemon holds as `failed`, with the error given.
    pub async fn fail(&self, daemon: Uuid, job: Uuid, request: &FailJobRequest) -> Result<ProvisionerJob, Error> {
        let path = format!("/provisionerdaemons/{daemon}/jobs/{job}/fail");
        self.call(Method::POST, path, Some(request)).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<&impl Serialize>,
    ) -> Result<T, Error> {
        json(self.send(method, path, body).await?).await
    }

    async fn send(
        &self,
        method: Method,
        path: String,
        body: Option<&impl Serialize>,
    ) -> Result<reqwest::Response, Error> {
        let mut request = self.http.request(method, format!("{}{path}", self.api)).header(DAEMON_KEY_HEADER, &self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.map_err(Error::Transport)
    }
}

/// The response itself when it is a success, else the server's refusal as an error.
async fn refusal(response: reqwest::Response) -> Result<reqwest::Response, Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.map_err(Error::Transport)?;
    match serde_json::from_str::<Response>(&body) {
        Ok(response) => Err(Error::Api { status, response }),
        Err(source) => Err(Error::Decode { status, body, source }),
    }
}

async fn json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, Error> {
    let response = refusal(response).await?;
    let status = response.status();
    let body = response.text().await.map_err(Error::Transport)?;
    serde_json::from_str(&body).map_err(|source| Error::Decode { status, body, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_with_a_host_are_servers() {
        assert!(Client::new("http://127.0.0.1:3000", "k").is_ok());
        assert!(Client::new("http://coder.internal/", "k").is_ok());
        for bad in ["127.0.0.1:3000", "https://coder.example.com", "ftp://example.com", "http://", "not a url"] {
            assert!(matches!(Client::new(bad, "k"), Err(Error::Url(_))), "{bad}");
        }
    }

    #[test]
    fn the_api_lives_under_api_v2_whatever_the_trailing_slash() {
        let with = Client::new("http://localhost:3000/", "k").map(|c| c.api);
        let without = Client::new("http://localhost:3000", "k").map(|c| c.api);
        assert_eq!(with.ok().as_deref(), Some("http://localhost:3000/api/v2"));
        assert_eq!(without.ok().as_deref(), Some("http://localhost:3000/api/v2"));
    }
}
