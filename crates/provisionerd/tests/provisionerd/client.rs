//! The client library, call by call, against the real server.

use std::collections::BTreeMap;
use std::time::Duration;

use provisionerd::Error;
use provisionerd::wire::{
    DaemonStatus, FailJobRequest, JobErrorCode, JobType, Log, LogLevel, ProvisionerDaemon, ProvisionerJobStatus,
    RegisterRequest,
};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::harness::TestServer;
use crate::on_both_backends;

on_both_backends!(
    a_daemon_registers_with_its_keys_organization_and_tags,
    a_job_goes_through_acquire_update_and_complete,
    acquire_answers_none_when_no_job_arrives_in_time,
    update_reports_cancellation_and_complete_then_ends_the_job_canceled,
    fail_records_the_error_and_its_code,
    heartbeat_is_accepted_for_a_known_daemon_only,
    refusals_carry_the_servers_status_and_message,
);

fn request(name: &str) -> RegisterRequest {
    RegisterRequest { name: name.into(), provisioners: vec!["echo".into()], version: "test".into() }
}

async fn register(server: &TestServer, key: &str, name: &str) -> (provisionerd::Client, ProvisionerDaemon) {
    let client = server.client(key);
    let daemon = client.register(&request(name)).await.unwrap_or_else(|e| panic!("cannot register: {e}"));
    (client, daemon)
}

fn refusal(error: &Error) -> (Option<StatusCode>, String) {
    match error {
        Error::Api { status, response } => (Some(*status), response.message.clone()),
        other => (other.status(), other.to_string()),
    }
}

async fn a_daemon_registers_with_its_keys_organization_and_tags(server: TestServer) {
    let key = server.create_key("linux", json!({ "os": "linux" })).await;
    let (_, daemon) = register(&server, &key, "worker-1").await;
    assert_eq!(daemon.name, "worker-1");
    assert_eq!(daemon.organization_id, server.organization);
    assert_eq!(daemon.provisioners, ["echo"]);
    assert_eq!(daemon.version, "test");
    assert_eq!(daemon.key_name.as_deref(), Some("linux"));
    assert_eq!(daemon.status, Some(DaemonStatus::Idle));
    let tags: BTreeMap<String, String> =
        [("os", "linux"), ("owner", ""), ("scope", "organization")].map(|(k, v)| (k.into(), v.into())).into();
    assert_eq!(daemon.tags, tags);
    // The same name again is the same daemon.
    let (_, again) = register(&server, &key, "worker-1").await;
    assert_eq!(again.id, daemon.id);
}

async fn a_job_goes_through_acquire_update_and_complete(server: TestServer) {
    let key = server.create_key("runner", json!({})).await;
    let (client, daemon) = register(&server, &key, "runner").await;
    let created = server.create_job(json!({})).await;
    let job = client.acquire(daemon.id, Duration::from_secs(5)).await.unwrap_or_else(|e| panic!("{e}"));
    let job = job.unwrap_or_else(|| panic!("no job acquired"));
    assert_eq!(
        (job.id, job.status, job.job_type),
        (created, ProvisionerJobStatus::Running, JobType::TemplateVersionImport)
    );
    assert_eq!((job.worker_id, job.worker_name.as_str()), (Some(daemon.id), "runner"));
    assert_eq!(job.organization_id, server.organization);
    let lines = vec![
        Log::provisioner(LogLevel::Info, "plan", "planning"),
        Log::provisioner(LogLevel::Info, "apply", "applying"),
    ];
    let progress = client.update(daemon.id, job.id, lines).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!progress.canceled);
    let done = client.complete(daemon.id, job.id).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.status, ProvisionerJobStatus::Succeeded);
    assert!(done.completed_at.is_some());
    assert_eq!(server.log_outputs(job.id).await, ["planning", "applying"]);
    assert_eq!(server.job(job.id).await["status"], "succeeded");
}

async fn acquire_answers_none_when_no_job_arrives_in_time(server: TestServer) {
    let key = server.create_key("idle", json!({})).await;
    let (client, daemon) = register(&server, &key, "idle").await;
    let nothing = client.acquire(daemon.id, Duration::from_secs(1)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(nothing, None);
    // A job it may not run (the tags ask for another daemon) is not handed over either.
    server.create_job(json!({ "gpu": "yes" })).await;
    let nothing = client.acquire(daemon.id, Duration::ZERO).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(nothing, None);
}

async fn update_reports_cancellation_and_complete_then_ends_the_job_canceled(server: TestServer) {
    let key = server.create_key("runner", json!({})).await;
    let (client, daemon) = register(&server, &key, "runner").await;
    let created = server.create_job(json!({})).await;
    let job = client.acquire(daemon.id, Duration::from_secs(5)).await.ok().flatten();
    assert_eq!(job.map(|job| job.id), Some(created));
    assert_eq!(server.cancel(created).await.status, 200);
    let progress = client.update(daemon.id, created, Vec::new()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(progress.canceled);
    let done = client.complete(daemon.id, created).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.status, ProvisionerJobStatus::Canceled);
}

async fn fail_records_the_error_and_its_code(server: TestServer) {
    let key = server.create_key("runner", json!({})).await;
    let (client, daemon) = register(&server, &key, "runner").await;
    let created = server.create_job(json!({})).await;
    client.acquire(daemon.id, Duration::from_secs(5)).await.unwrap_or_else(|e| panic!("{e}"));
    let request = FailJobRequest { error: "out of quota".into(), error_code: Some(JobErrorCode::InsufficientQuota) };
    let failed = client.fail(daemon.id, created, &request).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(failed.status, ProvisionerJobStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("out of quota"));
    assert_eq!(failed.error_code, Some(JobErrorCode::InsufficientQuota));
    let seen = server.job(created).await;
    assert_eq!(
        (seen["error"].clone(), seen["error_code"].clone()),
        (json!("out of quota"), json!("INSUFFICIENT_QUOTA"))
    );
}

async fn heartbeat_is_accepted_for_a_known_daemon_only(server: TestServer) {
    let key = server.create_key("runner", json!({})).await;
    let (client, daemon) = register(&server, &key, "runner").await;
    assert!(client.heartbeat(daemon.id).await.is_ok());
    let unknown = client.heartbeat(Uuid::from_u128(7)).await.err();
    assert!(unknown.as_ref().is_some_and(Error::is_not_found), "{unknown:?}");
}

async fn refusals_carry_the_servers_status_and_message(server: TestServer) {
    let key = server.create_key("runner", json!({})).await;
    let (client, daemon) = register(&server, &key, "runner").await;
    let (other, other_daemon) = register(&server, &key, "other").await;
    let created = server.create_job(json!({})).await;
    client.acquire(daemon.id, Duration::from_secs(5)).await.unwrap_or_else(|e| panic!("{e}"));

    let wrong_key = server.client(&"x".repeat(43)).register(&request("intruder")).await.err();
    let wrong_key = wrong_key.as_ref().map(refusal);
    assert_eq!(wrong_key, Some((Some(StatusCode::UNAUTHORIZED), "provisioner daemon key invalid".into())));

    let not_theirs = other.complete(other_daemon.id, created).await.err();
    assert_eq!(not_theirs.as_ref().map(refusal), Some((Some(StatusCode::FORBIDDEN), "you don't own this job".into())));

    client.complete(daemon.id, created).await.unwrap_or_else(|e| panic!("{e}"));
    let twice = client.complete(daemon.id, created).await.err();
    assert_eq!(twice.as_ref().map(refusal), Some((Some(StatusCode::BAD_REQUEST), "job already completed".into())));
    let text = twice.map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(text, "400 Bad Request: job already completed");

    let bad_name = client.register(&request("not a name")).await.err();
    let Some(Error::Api { status, response }) = bad_name else { panic!("expected a refusal, got {bad_name:?}") };
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(response.validations.first().map(|v| v.field.as_str()), Some("name"));
}

#[tokio::test]
async fn a_server_that_is_not_there_is_a_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
    let client = provisionerd::Client::new(&format!("http://127.0.0.1:{}", port.unwrap_or(1)), "key");
    let error = client.unwrap_or_else(|e| panic!("{e}")).heartbeat(Uuid::nil()).await.err();
    assert!(matches!(error, Some(Error::Transport(_))), "{error:?}");
    assert_eq!(error.map(|e| e.to_string()).as_deref(), Some("cannot reach the server"));
}
