//! CONTRACT §3: API tokens.

use serde_json::json;

use crate::harness::{TestApp, masked};
use crate::on_both_backends;

on_both_backends!(
    a_token_is_shown_once_and_listed_without_its_secret,
    the_default_lifetime_is_seven_days,
    lifetimes_beyond_the_maximum_are_refused,
    token_names_are_unique_per_user,
    a_deleted_token_stops_working,
    tokens_survive_a_server_restart,
    narrower_scopes_are_refused_not_ignored,
    owners_manage_others_tokens_and_members_only_their_own,
    expired_tokens_are_listed_only_when_asked,
);

async fn a_token_is_shown_once_and_listed_without_its_secret(app: TestApp) {
    let owner = app.owner().await;
    let created = owner
        .post("/api/v2/users/me/keys/tokens", json!({ "token_name": "ci", "lifetime": 3_600_000_000_000i64 }))
        .await;
    assert_eq!(created.status, 201);
    let key = created.body["key"].as_str().unwrap_or_default().to_owned();
    assert_eq!(key.len(), 33);
    assert_eq!(owner.with_token(&key).get("/api/v2/users/me").await.body["username"], "owner");
    let listed = owner.get("/api/v2/users/me/keys/tokens").await;
    let expected = json!([{
        "id": &key[..10], "user_id": owner.user_id, "last_used": "*", "expires_at": "*", "created_at": "*",
        "updated_at": "*", "login_type": "token", "scope": "all", "scopes": ["all"], "token_name": "ci",
        "lifetime_seconds": 3600, "allow_list": [], "username": "owner"
    }]);
    assert_eq!(masked(listed.body.clone(), &["last_used", "expires_at", "created_at", "updated_at"]), expected);
    assert!(!listed.text.contains(&key[11..]));
}

async fn the_default_lifetime_is_seven_days(app: TestApp) {
    let owner = app.owner().await;
    owner.post("/api/v2/users/me/keys/tokens", json!({ "token_name": "default" })).await;
    let listed = owner.get("/api/v2/users/me/keys/tokens").await;
    assert_eq!(listed.body[0]["lifetime_seconds"], 7 * 24 * 3600);
    let unnamed = owner.post("/api/v2/users/me/keys/tokens", json!({})).await;
    assert_eq!(unnamed.status, 201);
}

async fn lifetimes_beyond_the_maximum_are_refused(app: TestApp) {
    let owner = app.owner().await;
    let too_long = 876_601i64 * 3600 * 1_000_000_000;
    let reply = owner.post("/api/v2/users/me/keys/tokens", json!({ "lifetime": too_long })).await;
    let expected = json!({ "message": "Failed to validate create API key request.", "detail": "lifetime must be less than 876600h0m0s" });
    assert_eq!(reply.parts(), (400, expected));
    let negative = owner.post("/api/v2/users/me/keys/tokens", json!({ "lifetime": -1 })).await;
    assert_eq!(negative.status, 400);
}

async fn token_names_are_unique_per_user(app: TestApp) {
    let owner = app.owner().await;
    let alice = app.user(&owner, "alice", &[]).await;
    assert_eq!(owner.post("/api/v2/users/me/keys/tokens", json!({ "token_name": "ci" })).await.status, 201);
    let again = owner.post("/api/v2/users/me/keys/tokens", json!({ "token_name": "ci" })).await;
    let expected = json!({
        "message": "A token with name \"ci\" already exists.",
        "validations": [{ "field": "name", "detail": "This value is already in use and should be unique." }]
    });
    assert_eq!(again.parts(), (409, expected));
    assert_eq!(alice.post("/api/v2/users/me/keys/tokens", json!({ "token_name": "ci" })).await.status, 201);
}

async fn a_deleted_token_stops_working(app: TestApp) {
    let owner = app.owner().await;
    let key = owner.post("/api/v2/users/me/keys/tokens", json!({ "token_name": "ci" })).await.body["key"].clone();
    let key = key.as_str().unwrap_or_default().to_owned();
    let deleted = owner.delete(&format!("/api/v2/users/me/keys/{}", &key[..10])).await;
    assert_eq!((deleted.status, deleted.text.as_str()), (204, ""));
    assert_eq!(owner.with_token(&key).get("/api/v2/users/me").await.status, 401);
    assert_eq!(owner.delete(&format!("/api/v2/users/me/keys/{}", &key[..10])).await.status, 404);
}

async fn tokens_survive_a_server_restart(app: TestApp) {
    let owner = app.owner().await;
    let key = owner.post("/api/v2/users/me/keys/tokens", json!({ "token_name": "ci" })).await.body["key"].clone();
    let restarted = app.second_server().await;
    let reply = restarted.anonymous().with_token(key.as_str().unwrap_or_default()).get("/api/v2/users/me").await;
    assert_eq!((reply.status, reply.body["username"].clone()), (200, json!("owner")));
}

async fn narrower_scopes_are_refused_not_ignored(app: TestApp) {
    let owner = app.owner().await;
    let reply = owner.post("/api/v2/users/me/keys/tokens", json!({ "scopes": ["workspace:read"] })).await;
    let expected = json!({ "message": "Failed to create API key.", "detail": "invalid or unsupported API key scope: \"workspace:read\"" });
    assert_eq!(reply.parts(), (400, expected));
    assert_eq!(owner.post("/api/v2/users/me/keys/tokens", json!({ "scope": "all" })).await.status, 201);
}

async fn owners_manage_others_tokens_and_members_only_their_own(app: TestApp) {
    let owner = app.owner().await;
    let alice = app.user(&owner, "alice", &[]).await;
    let bob = app.user(&owner, "bob", &[]).await;
    let path = format!("/api/v2/users/{}/keys/tokens", alice.user_id);
    assert_eq!(owner.post(&path, json!({ "token_name": "by-owner" })).await.status, 201);
    assert_eq!(bob.post(&path, json!({ "token_name": "by-bob" })).await.status, 400);
    assert_eq!(bob.get(&path).await.status, 400);
    let names: Vec<_> = alice
        .get("/api/v2/users/me/keys/tokens")
        .await
        .body
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| k["token_name"].clone())
        .collect();
    assert_eq!(names, vec![json!("by-owner")]);
}

async fn expired_tokens_are_listed_only_when_asked(app: TestApp) {
    let owner = app.owner().await;
    owner.post("/api/v2/users/me/keys/tokens", json!({ "token_name": "brief", "lifetime": 1_000_000_000i64 })).await;
    owner.post("/api/v2/users/me/keys/tokens", json!({ "token_name": "lasting" })).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let names = |reply: crate::harness::Reply| -> Vec<serde_json::Value> {
        reply.body.as_array().into_iter().flatten().map(|k| k["token_name"].clone()).collect()
    };
    assert_eq!(names(owner.get("/api/v2/users/me/keys/tokens").await), vec![json!("lasting")]);
    assert_eq!(
        names(owner.get("/api/v2/users/me/keys/tokens?include_expired=true").await),
        vec![json!("brief"), json!("lasting")]
    );
    assert_eq!(owner.get("/api/v2/users/me/keys/tokens?include_expired=maybe").await.status, 400);
}
