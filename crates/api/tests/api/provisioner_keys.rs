//! Provisioner keys, daemon registration and the organization's daemon list.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Cast, TestApp};
use crate::on_both_backends;

on_both_backends!(
    a_key_is_shown_once_and_listed_without_its_secret,
    key_names_follow_coders_rules,
    only_owners_and_admins_manage_keys,
    daemons_are_refused_without_a_valid_key,
    a_daemon_registers_in_its_keys_organization_with_its_tags,
    registering_a_name_again_refreshes_that_daemon,
    the_daemon_list_shows_status_and_jobs_and_filters,
    deleting_a_key_removes_its_daemons,
    a_daemon_cannot_touch_another_keys_daemon,
);

fn keys_path(organization: Uuid) -> String {
    format!("/api/v2/organizations/{organization}/provisionerkeys")
}

async fn a_key_is_shown_once_and_listed_without_its_secret(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let secret = owner.create_key(acme, "GPU", json!({ "gpu": "true" })).await;
    assert_eq!(secret.len(), 43);
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
    let listed = owner.get(&keys_path(acme)).await;
    assert_eq!(listed.status, 200);
    let key = &listed.body[0];
    assert_eq!(key["name"], "gpu");
    assert_eq!(key["organization"], json!(acme));
    assert_eq!(key["tags"], json!({ "gpu": "true", "scope": "organization", "owner": "" }));
    assert!(key["id"].is_string() && key["created_at"].is_string());
    assert!(!listed.text.contains(&secret));
}

async fn key_names_follow_coders_rules(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let cases = [
        ("", "Name is required"),
        (&*"k".repeat(65), "Name must be at most 64 characters"),
        ("PSK", "Name cannot be reserved name 'PSK'"),
    ];
    for (name, message) in cases {
        let reply = owner.post(&keys_path(acme), json!({ "name": name })).await;
        let expected = json!({ "message": message, "validations": [{ "field": "name", "detail": message }] });
        assert_eq!(reply.parts(), (400, expected), "{name}");
    }
    owner.create_key(acme, "ci", json!({})).await;
    let twin = owner.post(&keys_path(acme), json!({ "name": "CI" })).await;
    assert_eq!(
        twin.parts(),
        (409, json!({ "message": "Provisioner key with name 'ci' already exists in organization" }))
    );
    let other = owner.create_organization("other").await;
    owner.create_key(other, "ci", json!({})).await;
}

async fn only_owners_and_admins_manage_keys(app: TestApp) {
    let Cast { acme, member, admin, outsider, .. } = app.cast().await;
    assert_eq!(admin.post(&keys_path(acme), json!({ "name": "mine" })).await.status, 201);
    assert_eq!(member.get(&keys_path(acme)).await.status, 403);
    assert_eq!(member.post(&keys_path(acme), json!({ "name": "x" })).await.status, 403);
    assert_eq!(outsider.get(&keys_path(acme)).await.status, 404);
    assert_eq!(admin.delete(&format!("{}/mine", keys_path(acme))).await.status, 204);
    assert_eq!(admin.delete(&format!("{}/mine", keys_path(acme))).await.status, 404);
}

async fn daemons_are_refused_without_a_valid_key(app: TestApp) {
    let owner = app.owner().await;
    let anonymous = app.anonymous();
    let register = |key: Option<&str>| {
        let request =
            anonymous.request(reqwest::Method::POST, "/api/v2/provisionerdaemons").json(&json!({ "name": "d" }));
        match key {
            Some(key) => request.header("Coder-Provisioner-Daemon-Key", key),
            None => request,
        }
    };
    assert_eq!(
        anonymous.send(register(None)).await.parts(),
        (401, json!({ "message": "provisioner daemon key required" }))
    );
    let short = anonymous.send(register(Some("short"))).await;
    assert_eq!(
        short.parts(),
        (400, json!({ "message": "provisioner daemon key invalid", "detail": "must be 43 characters" }))
    );
    let unknown = anonymous.send(register(Some(&"x".repeat(43)))).await;
    assert_eq!(unknown.parts(), (401, json!({ "message": "provisioner daemon key invalid" })));
    // A user's session is not a daemon key.
    let by_user = owner
        .send(owner.request(reqwest::Method::POST, "/api/v2/provisionerdaemons").json(&json!({ "name": "d" })))
        .await;
    assert_eq!(by_user.status, 401);
}

async fn a_daemon_registers_in_its_keys_organization_with_its_tags(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let key = owner.create_key(acme, "gpu", json!({ "gpu": "true" })).await;
    let daemon = app.daemon(&key, "worker-1").await;
    let listed = owner.get(&format!("/api/v2/organizations/{acme}/provisionerdaemons")).await;
    let entry = &listed.body[0];
    assert_eq!(entry["id"], json!(daemon.id));
    assert_eq!(entry["organization_id"], json!(acme));
    assert_eq!(entry["name"], "worker-1");
    assert_eq!(entry["key_name"], "gpu");
    assert_eq!(entry["provisioners"], json!(["echo"]));
    assert_eq!(entry["tags"], json!({ "gpu": "true", "scope": "organization", "owner": "" }));
    assert_eq!(entry["status"], "idle");
    assert_eq!((entry["current_job"].clone(), entry["previous_job"].clone()), (Value::Null, Value::Null));
    let bad = app.anonymous();
    let request = bad
        .request(reqwest::Method::POST, "/api/v2/provisionerdaemons")
        .header("Coder-Provisioner-Daemon-Key", &key)
        .json(&json!({ "name": "has space", "provisioners": ["ansible"] }));
    let refused = bad.send(request).await;
    let fields: Vec<Value> =
        refused.body["validations"].as_array().into_iter().flatten().map(|v| v["field"].clone()).collect();
    assert_eq!((refused.status, fields), (400, vec![json!("name"), json!("provisioners")]));
}

async fn registering_a_name_again_refreshes_that_daemon(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let key = owner.create_key(default, "k", json!({})).await;
    let first = app.daemon(&key, "worker").await;
    let again = app.daemon(&key, "WORKER").await;
    assert_eq!(first.id, again.id);
    let listed = owner.get(&format!("/api/v2/organizations/{default}/provisionerdaemons")).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
}

async fn the_daemon_list_shows_status_and_jobs_and_filters(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let plain = owner.create_key(default, "plain", json!({})).await;
    let gpu = owner.create_key(default, "gpu", json!({ "gpu": "true" })).await;
    let busy = app.daemon(&plain, "busy").await;
    let idle = app.daemon(&gpu, "idle").await;
    let first = owner.create_job(default, json!({})).await;
    assert_eq!(busy.acquire_id().await, first);
    busy.complete(first).await;
    let second = owner.create_job(default, json!({})).await;
    assert_eq!(busy.acquire_id().await, second);
    let path = format!("/api/v2/organizations/{default}/provisionerdaemons");
    let listed = owner.get(&path).await;
    let by_name = |name: &str| {
        listed.body.as_array().into_iter().flatten().find(|d| d["name"] == name).cloned().unwrap_or_default()
    };
    assert_eq!(by_name("busy")["status"], "busy");
    assert_eq!(by_name("busy")["current_job"]["id"], json!(second));
    assert_eq!(by_name("busy")["current_job"]["status"], "running");
    assert_eq!(by_name("busy")["previous_job"]["id"], json!(first));
    assert_eq!(by_name("busy")["previous_job"]["status"], "succeeded");
    assert_eq!(by_name("idle")["status"], "idle");
    assert_eq!(owner.get(&format!("{path}?limit=1")).await.body.as_array().map(Vec::len), Some(1));
    let by_id = owner.get(&format!("{path}?ids={}", idle.id)).await;
    assert_eq!(by_id.body[0]["name"], "idle");
    let by_tags = owner.get(&format!("{path}?tags=%7B%22gpu%22%3A%22true%22%7D")).await;
    assert_eq!(
        by_tags.body.as_array().map(|d| d.iter().map(|x| x["name"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("idle")])
    );
    let member = app.user(&owner, "member", &[]).await;
    assert_eq!(member.get(&path).await.status, 200);
}

async fn deleting_a_key_removes_its_daemons(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let key = owner.create_key(default, "temp", json!({})).await;
    let daemon = app.daemon(&key, "temp-worker").await;
    // Signed in twice: the second sign-in is one the server kept.
    for _ in 0..2 {
        assert_eq!(daemon.heartbeat().await.status, 204);
    }
    assert_eq!(owner.delete(&format!("{}/temp", keys_path(default))).await.status, 204);
    let listed = owner.get(&format!("/api/v2/organizations/{default}/provisionerdaemons")).await;
    assert_eq!(listed.body, json!([]));
    assert_eq!(daemon.heartbeat().await.status, 401);
    assert_eq!(daemon.call("/acquire?timeout=0", None).await.status, 401);
    // Nor can the daemon register again with it.
    let again = app.anonymous();
    let register = again
        .request(reqwest::Method::POST, "/api/v2/provisionerdaemons")
        .header("Coder-Provisioner-Daemon-Key", &key)
        .json(&json!({ "name": "temp-worker" }));
    assert_eq!(again.send(register).await.parts(), (401, json!({ "message": "provisioner daemon key invalid" })));
}

async fn a_daemon_cannot_touch_another_keys_daemon(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let first = owner.create_key(default, "first", json!({})).await;
    let second = owner.create_key(default, "second", json!({})).await;
    let theirs = app.daemon(&first, "theirs").await;
    let client = app.anonymous();
    let request = client
        .request(reqwest::Method::POST, &format!("/api/v2/provisionerdaemons/{}/heartbeat", theirs.id))
        .header("Coder-Provisioner-Daemon-Key", &second);
    assert_eq!(client.send(request).await.status, 404);
    let heartbeat = |daemon: String, key: &str| {
        client
            .request(reqwest::Method::POST, &format!("/api/v2/provisionerdaemons/{daemon}/heartbeat"))
            .header("Coder-Provisioner-Daemon-Key", key)
    };
    // The path's daemon is read with the key; any spelling of its id is the same daemon.
    assert_eq!(client.send(heartbeat(theirs.id.to_string(), &first)).await.status, 204);
    assert_eq!(client.send(heartbeat(theirs.id.to_string().to_uppercase(), &first)).await.status, 204);
    assert_eq!(client.send(heartbeat(Uuid::new_v4().to_string(), &first)).await.status, 404);
    let bad = client.send(heartbeat("not-a-uuid".into(), &first)).await;
    assert_eq!((bad.status, &bad.body["message"]), (400, &json!("Invalid UUID \"not-a-uuid\".")));
    // Without a good key, nothing is said of daemons.
    assert_eq!(client.send(heartbeat("not-a-uuid".into(), &"x".repeat(43))).await.status, 401);
}
