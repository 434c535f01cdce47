//! NUL in client text: PostgreSQL's text cannot hold it, so every field refuses it as a broken
//! field rule and every path or query naming something with it finds nothing, on both backends
//! alike and never with a 500.

use serde_json::{Value, json};

use crate::harness::{PASSWORD, TestApp};
use crate::on_both_backends;

on_both_backends!(
    the_first_user_refuses_nul_in_its_name,
    organization_fields_refuse_nul_on_create_and_patch,
    user_and_token_fields_refuse_nul,
    provisioner_key_fields_refuse_nul,
    job_fields_and_tag_filters_refuse_nul,
    daemon_fields_refuse_nul,
    paths_with_nul_name_nothing,
);

const NUL: &str = "a\u{0}b";

/// 400 `Validation failed.` naming exactly `field`.
fn assert_refused(reply: &crate::harness::Reply, field: &str) {
    assert_eq!((reply.status, reply.body["message"].clone()), (400, json!("Validation failed.")), "{}", reply.text);
    let fields: Vec<Value> =
        reply.body["validations"].as_array().into_iter().flatten().map(|v| v["field"].clone()).collect();
    assert_eq!(fields, vec![json!(field)], "{}", reply.text);
}

async fn the_first_user_refuses_nul_in_its_name(app: TestApp) {
    let body = json!({ "email": "owner@example.com", "username": "owner", "name": NUL, "password": PASSWORD });
    assert_refused(&app.anonymous().post("/api/v2/users/first", body).await, "name");
    let login = app.anonymous().post("/api/v2/users/login", json!({ "email": "a\u{0}@b", "password": "x" })).await;
    assert_refused(&login, "email");
    assert_eq!(app.anonymous().get("/api/v2/users/first").await.status, 404, "nothing was created");
}

async fn organization_fields_refuse_nul_on_create_and_patch(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    for field in ["name", "display_name", "description", "icon"] {
        let mut body = json!({ "name": "fresh" });
        body[field] = json!(NUL);
        assert_refused(&owner.post("/api/v2/organizations", body).await, field);
        let mut change = json!({});
        change[field] = json!(NUL);
        assert_refused(&owner.patch(&format!("/api/v2/organizations/{acme}"), change).await, field);
    }
    let listed = owner.get("/api/v2/organizations").await.body;
    let names: Vec<Value> = listed.as_array().into_iter().flatten().map(|o| o["name"].clone()).collect();
    assert_eq!(names, vec![json!("acme"), json!("coder")], "nothing was created or changed");
    assert_eq!(owner.get(&format!("/api/v2/organizations/{acme}")).await.body["icon"], "");
}

async fn user_and_token_fields_refuse_nul(app: TestApp) {
    let owner = app.owner().await;
    for field in ["name", "username", "email"] {
        let mut body = json!({ "email": "alice@example.com", "username": "alice", "password": PASSWORD });
        body[field] = json!(NUL);
        assert_refused(&owner.post("/api/v2/users", body).await, field);
    }
    let token = owner.post("/api/v2/users/me/keys/tokens", json!({ "token_name": NUL })).await;
    assert_refused(&token, "token_name");
    let scope = owner.post("/api/v2/users/me/keys/tokens", json!({ "scope": NUL })).await;
    assert_eq!((scope.status, scope.body["message"].clone()), (400, json!("Failed to create API key.")));
    assert_eq!(owner.get("/api/v2/users/me/keys/tokens").await.body, json!([]));
}

async fn provisioner_key_fields_refuse_nul(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let keys = format!("/api/v2/organizations/{acme}/provisionerkeys");
    assert_refused(&owner.post(&keys, json!({ "name": NUL })).await, "name");
    for (key, value) in [(NUL, "x"), ("x", NUL)] {
        let mut body = json!({ "name": "k", "tags": {} });
        body["tags"][key] = json!(value);
        assert_refused(&owner.post(&keys, body).await, "tags");
    }
    assert_eq!(owner.get(&keys).await.body, json!([]));
}

async fn job_fields_and_tag_filters_refuse_nul(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let jobs = format!("/api/v2/organizations/{acme}/provisionerjobs");
    let job = |extra: Value| {
        let mut body = json!({ "type": "template_version_import", "provisioner": "echo" });
        for (key, value) in extra.as_object().into_iter().flatten() {
            body[key] = value.clone();
        }
        body
    };
    assert_refused(&owner.post(&jobs, job(json!({ "tags": { "os": NUL } }))).await, "tags");
    for field in ["template_version_name", "template_name", "template_display_name", "template_icon", "workspace_name"]
    {
        let mut metadata = json!({ "metadata": {} });
        metadata["metadata"][field] = json!(NUL);
        assert_refused(&owner.post(&jobs, job(metadata)).await, field);
    }
    assert_eq!(owner.get(&jobs).await.body, json!([]));
    let filter = "tags=%7B%22os%22%3A%22%5Cu0000%22%7D";
    for list in [jobs.clone(), format!("/api/v2/organizations/{acme}/provisionerdaemons")] {
        let reply = owner.get(&format!("{list}?{filter}")).await;
        let expected = json!({
            "message": "Invalid query parameters.",
            "validations": [{ "field": "tags", "detail": "Query param \"tags\" must not contain the NUL character" }]
        });
        assert_eq!(reply.parts(), (400, expected), "{list}");
    }
}

async fn daemon_fields_refuse_nul(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let key = owner.create_key(acme, "runner", json!({})).await;
    let register = |body: Value| {
        let client = app.anonymous();
        let request = client
            .request(reqwest::Method::POST, "/api/v2/provisionerdaemons")
            .header("Coder-Provisioner-Daemon-Key", &key)
            .json(&body);
        async move { client.send(request).await }
    };
    assert_refused(&register(json!({ "name": NUL, "provisioners": ["echo"] })).await, "name");
    assert_refused(&register(json!({ "name": "w", "provisioners": ["echo"], "version": NUL })).await, "version");
    let daemon = app.daemon(&key, "worker").await;
    owner.create_job(acme, json!({})).await;
    let job = daemon.acquire_id().await;
    let line = |stage: &str, output: &str| json!({ "logs": [{ "log_source": "provisioner", "log_level": "info", "stage": stage, "output": output }] });
    let update = format!("/jobs/{job}/update");
    assert_refused(&daemon.call(&update, Some(line(NUL, "ok"))).await, "stage");
    assert_refused(&daemon.call(&update, Some(line("plan", NUL))).await, "output");
    assert_refused(&daemon.call(&format!("/jobs/{job}/fail"), Some(json!({ "error": NUL }))).await, "error");
    let logs = owner.get(&format!("/api/v2/organizations/{acme}/provisionerjobs/{job}/logs")).await;
    assert_eq!(logs.body, json!([]), "no line was stored");
    assert_eq!(owner.job(acme, job).await.body["status"], "running", "the job did not fail");
}

async fn paths_with_nul_name_nothing(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let not_found = json!({ "message": "Resource not found or you do not have access to this resource" });
    for path in [
        "/api/v2/organizations/%00".to_owned(),
        "/api/v2/organizations/a%00b/members".to_owned(),
        "/api/v2/users/me/organizations/a%00b".to_owned(),
    ] {
        assert_eq!(owner.get(&path).await.parts(), (404, not_found.clone()), "{path}");
    }
    for path in [format!("/api/v2/organizations/{acme}/provisionerkeys/a%00b"), "/api/v2/users/me/keys/a%00b".into()] {
        assert_eq!(owner.delete(&path).await.parts(), (404, not_found.clone()), "{path}");
    }
    let user = owner.get("/api/v2/users/a%00b").await;
    let expected = json!({
        "message": "\"user\" must be an existing uuid or username.",
        "detail": "queried user=\"a\\0b\""
    });
    assert_eq!(user.parts(), (400, expected));
    let member = owner.post(&format!("/api/v2/organizations/{acme}/members/a%00b"), json!({})).await;
    assert_eq!(member.status, 400, "{}", member.text);
}
