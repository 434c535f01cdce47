//! CONTRACT §5: the two seed job routes, their filters and errors, the job's JSON, and queue
//! numbers against real daemons.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::provisioner::{JobInput, JobMetadata, JobType, Liveness, NewJob, ProvisionerType, Tags};
use domain::repo::JobRepo;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Cast, Client, Reply, TestApp};
use crate::on_both_backends;

on_both_backends!(
    coders_checklist_for_the_list_route,
    bad_query_values_are_refused_with_coders_messages,
    empty_query_values_and_list_items_mean_none,
    a_pending_job_has_exactly_the_fields_coder_sends,
    a_finished_job_shows_its_times_worker_and_error,
    a_single_job_is_found_by_id_only_in_its_organization,
    members_see_only_the_jobs_they_started,
    jobs_created_at_the_same_instant_are_ordered_by_id,
    coders_queue_vectors_replayed_with_real_daemons,
    queue_numbers_follow_daemons_going_offline_and_back,
    queue_numbers_move_when_jobs_are_canceled_or_start,
    a_job_needs_a_daemon_with_its_provisioner,
    job_creation_checks_its_fields_and_normalises_tags,
    long_lists_are_sent_whole_and_in_order_across_pages,
);

/// As the document says: an empty value is the parameter's default, an empty list item no item.
async fn empty_query_values_and_list_items_mean_none(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let job = owner.create_job(default, json!({})).await;
    let all = owner.get(&jobs_path(default)).await;
    let empty = owner.get(&format!("{}?ids=&status=&initiator=&tags=&limit=", jobs_path(default))).await;
    assert_eq!((empty.status, ids(&empty)), (200, ids(&all)));
    let with_gaps = owner.get(&format!("{}?ids={job},&status=,pending&status=", jobs_path(default))).await;
    assert_eq!((with_gaps.status, ids(&with_gaps)), (200, vec![job]));
    let tokens = owner.get("/api/v2/users/me/keys/tokens?include_expired=").await;
    assert_eq!(tokens.parts(), (200, json!([])));
}

fn jobs_path(organization: Uuid) -> String {
    format!("/api/v2/organizations/{organization}/provisionerjobs")
}

fn ids(reply: &Reply) -> Vec<Uuid> {
    reply
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|j| j["id"].as_str())
        .filter_map(|id| Uuid::try_parse(id).ok())
        .collect()
}

fn numbers(reply: &Reply, jobs: &[Uuid]) -> Vec<(u64, u64)> {
    jobs.iter()
        .map(|id| {
            let job = reply.body.as_array().into_iter().flatten().find(|j| j["id"] == json!(id));
            let job = job.unwrap_or_else(|| panic!("job {id} missing from {}", reply.text));
            (job["queue_position"].as_u64().unwrap_or(99), job["queue_size"].as_u64().unwrap_or(99))
        })
        .collect()
}

/// A job with no tags of its own, created straight in the store at `created_at`: for lists
/// that need many jobs, or jobs of one instant.
fn seed_job(app: &TestApp, organization: Uuid, initiator: Uuid, created_at: DateTime<Utc>) -> Uuid {
    let new = NewJob {
        organization_id: organization,
        initiator_id: initiator,
        job_type: JobType::TemplateVersionImport,
        provisioner: ProvisionerType::from_stored("echo".into()),
        file_id: None,
        tags: Tags::normalise_for_organization(BTreeMap::new()).unwrap_or_else(|e| panic!("{e}")),
        input: JobInput::default(),
        metadata: JobMetadata::default(),
    };
    app.state.store.create_job(&new, Liveness::default(), created_at).unwrap_or_else(|e| panic!("{e}")).job.id
}

async fn list(client: &Client, organization: Uuid, query: &str) -> Reply {
    let reply = client.get(&format!("{}{query}", jobs_path(organization))).await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.text);
    reply
}

async fn coders_checklist_for_the_list_route(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let member = app.user(&owner, "member", &[]).await;
    // One running job started by the member, then 60 pending ones by the owner.
    let key = owner.create_key(default, "runner", json!({ "initiatorTest": "true" })).await;
    let daemon = app.daemon(&key, "runner").await;
    let running = member.create_job(default, json!({ "initiatorTest": "true" })).await;
    assert_eq!(daemon.acquire_id().await, running);
    let mut pending = Vec::new();
    for i in 0..60 {
        pending.push(owner.create_job(default, json!({ "count": i.to_string() })).await);
    }
    let all = list(&owner, default, "").await;
    assert_eq!(all.body.as_array().map(Vec::len), Some(50), "default limit");
    assert_eq!(ids(&all)[0], pending[59], "newest first");
    let by_ids = list(&owner, default, &format!("?ids={},{}", pending[0], running)).await;
    let mut found = ids(&by_ids);
    found.sort();
    let mut expected = vec![pending[0], running];
    expected.sort();
    assert_eq!(found, expected);
    let repeated = list(&owner, default, &format!("?ids={}&ids={}", pending[0], pending[1])).await;
    assert_eq!(ids(&repeated).len(), 2);
    assert_eq!(ids(&list(&owner, default, "?status=running").await), vec![running]);
    assert_eq!(list(&owner, default, "?status=pending,running&limit=0").await.body.as_array().map(Vec::len), Some(61));
    assert_eq!(ids(&list(&owner, default, "?tags=%7B%22count%22%3A%221%22%7D").await), vec![pending[1]]);
    assert_eq!(ids(&list(&owner, default, &format!("?initiator={}", member.user_id)).await), vec![running]);
    let with_tags = format!("?initiator={}&tags=%7B%22initiatorTest%22%3A%22true%22%7D", member.user_id);
    assert_eq!(ids(&list(&owner, default, &with_tags).await), vec![running]);
    let owner_succeeded = format!("?initiator={}&status=succeeded", owner.user_id);
    assert_eq!(ids(&list(&owner, default, &owner_succeeded).await), Vec::<Uuid>::new());
    assert_eq!(ids(&list(&owner, default, &format!("?initiator={}&limit=1", owner.user_id)).await), vec![pending[59]]);
    assert_eq!(ids(&list(&owner, default, &format!("?initiator={}", Uuid::new_v4())).await), Vec::<Uuid>::new());
    assert_eq!(list(&owner, default, "?initiator=").await.body.as_array().map(Vec::len), Some(50));
    assert_eq!(list(&owner, default, "?limit=1").await.body.as_array().map(Vec::len), Some(1));
    assert_eq!(
        list(&owner, default, "?tags=%7B%22scope%22%3A%22organization%22%7D&limit=0")
            .await
            .body
            .as_array()
            .map(Vec::len),
        Some(61)
    );
}

async fn bad_query_values_are_refused_with_coders_messages(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let cases: Vec<(&str, Value)> = vec![
        (
            "?limit=abc",
            json!([{ "field": "limit", "detail": "Query param \"limit\" must be a valid 32-bit positive integer: strconv.ParseInt: parsing \"abc\": invalid syntax" }]),
        ),
        (
            "?limit=-1",
            json!([{ "field": "limit", "detail": "Query param \"limit\" must be a valid 32-bit positive integer: value is negative" }]),
        ),
        (
            "?initiator=me",
            json!([{ "field": "initiator", "detail": "Query param \"initiator\" must be a valid uuid" }]),
        ),
        (
            "?status=done",
            json!([{ "field": "status", "detail": "Query param \"status\" has invalid values: \"done\" is not a valid value" }]),
        ),
        (
            "?ids=123",
            json!([{ "field": "ids", "detail": "Query param \"ids\" has invalid values: invalid UUID length: 3" }]),
        ),
        (
            "?limit=1&limit=2",
            json!([{ "field": "limit", "detail": "Query param \"limit\" provided more than once, found 2 times. Only provide 1 instance of this query param." }]),
        ),
        ("?page=2", json!([{ "field": "page", "detail": "\"page\" is not a valid query param" }])),
    ];
    for (query, validations) in cases {
        let reply = owner.get(&format!("{}{query}", jobs_path(default))).await;
        assert_eq!(
            reply.parts(),
            (400, json!({ "message": "Invalid query parameters.", "validations": validations })),
            "{query}"
        );
    }
    let tags = owner.get(&format!("{}?tags=not-json", jobs_path(default))).await;
    assert_eq!(tags.status, 400);
    let detail = tags.body["validations"][0]["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("Query param \"tags\" must be a valid JSON object: "), "{detail}");
}

async fn a_pending_job_has_exactly_the_fields_coder_sends(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let job = owner.create_job(default, json!({ "os": "linux" })).await;
    let reply = owner.job(default, job).await;
    let expected = json!({
        "id": job, "created_at": reply.body["created_at"], "status": "pending", "worker_name": "",
        "file_id": Uuid::nil(), "tags": { "os": "linux", "scope": "organization", "owner": "" },
        "queue_position": 0, "queue_size": 0, "organization_id": default, "initiator_id": owner.user_id,
        "input": {}, "type": "template_version_import",
        "metadata": {
            "template_version_name": "", "template_id": Uuid::nil(), "template_name": "",
            "template_display_name": "", "template_icon": ""
        },
        "logs_overflowed": false
    });
    assert_eq!(reply.parts(), (200, expected));
    assert_eq!(reply.header("content-type").as_deref(), Some("application/json; charset=utf-8"));
}

async fn a_finished_job_shows_its_times_worker_and_error(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let key = owner.create_key(default, "runner", json!({})).await;
    let daemon = app.daemon(&key, "runner-1").await;
    let body = json!({
        "type": "workspace_build", "provisioner": "echo",
        "input": { "workspace_build_id": "6f9619ff-8b86-d011-b42d-00c04fc964ff" },
        "metadata": { "template_name": "docker", "workspace_name": "dev", "workspace_build_transition": "start" }
    });
    let job = owner.post(&jobs_path(default), body).await.id();
    assert_eq!(daemon.acquire_id().await, job);
    let running = owner.job(default, job).await.body;
    assert_eq!((running["status"].clone(), running["worker_name"].clone()), (json!("running"), json!("runner-1")));
    assert_eq!(running["worker_id"], json!(daemon.id));
    assert!(running["started_at"].is_string() && running.get("completed_at").is_none());
    daemon.fail(job, "terraform exploded").await;
    let failed = owner.job(default, job).await.body;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "terraform exploded");
    assert!(
        failed["completed_at"].is_string() && failed.get("canceled_at").is_none() && failed.get("error_code").is_none()
    );
    assert_eq!(failed["input"], json!({ "workspace_build_id": "6f9619ff-8b86-d011-b42d-00c04fc964ff" }));
    assert_eq!(failed["metadata"]["template_name"], "docker");
    assert_eq!(failed["metadata"]["workspace_name"], "dev");
    assert_eq!(failed["metadata"]["workspace_build_transition"], "start");
    assert!(failed.get("available_workers").is_none());
}

async fn a_single_job_is_found_by_id_only_in_its_organization(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let acme = owner.create_organization("acme").await;
    let job = owner.create_job(default, json!({})).await;
    let bad = owner.get(&format!("{}/not-a-uuid", jobs_path(default))).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["message"], "Invalid UUID \"not-a-uuid\".");
    let not_found = json!({ "message": "Resource not found or you do not have access to this resource" });
    assert_eq!(owner.job(default, Uuid::new_v4()).await.parts(), (404, not_found.clone()));
    assert_eq!(owner.job(acme, job).await.parts(), (404, not_found));
    assert_eq!(owner.job(default, job).await.status, 200);
}

async fn members_see_only_the_jobs_they_started(app: TestApp) {
    let Cast { owner, acme, member, admin, outsider, .. } = app.cast().await;
    let mine = member.create_job(acme, json!({})).await;
    let theirs = owner.create_job(acme, json!({})).await;
    assert_eq!(ids(&list(&member, acme, "").await), vec![mine]);
    assert_eq!(member.job(acme, mine).await.status, 200);
    assert_eq!(member.job(acme, theirs).await.status, 404);
    assert_eq!(ids(&list(&admin, acme, "").await), vec![theirs, mine]);
    assert_eq!(outsider.get(&jobs_path(acme)).await.status, 404);
    assert_eq!(outsider.job(acme, mine).await.status, 404);
}

async fn jobs_created_at_the_same_instant_are_ordered_by_id(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let key = owner.create_key(default, "runner", json!({})).await;
    let daemon = app.daemon(&key, "runner").await;
    let instant = domain::time::truncate(Utc::now());
    let mut created = Vec::new();
    for _ in 0..4 {
        created.push(seed_job(&app, default, owner.user_id, instant));
    }
    let mut ascending = created.clone();
    ascending.sort();
    let listed = list(&owner, default, "").await;
    let descending: Vec<Uuid> = ascending.iter().rev().copied().collect();
    assert_eq!(ids(&listed), descending);
    assert_eq!(numbers(&listed, &ascending), vec![(1, 4), (2, 4), (3, 4), (4, 4)]);
    assert_eq!(daemon.acquire_id().await, ascending[0]);
}

async fn coders_queue_vectors_replayed_with_real_daemons(app: TestApp) {
    let owner = app.owner().await;
    let acme = owner.create_organization("acme").await;
    let jobs = [
        owner.create_job(acme, json!({ "a": "1", "b": "2" })).await,
        owner.create_job(acme, json!({ "a": "1" })).await,
        owner.create_job(acme, json!({ "a": "1", "c": "3" })).await,
    ];
    assert_eq!(numbers(&list(&owner, acme, "").await, &jobs), vec![(0, 0); 3]);
    let ab = owner.create_key(acme, "ab", json!({ "a": "1", "b": "2" })).await;
    let a = owner.create_key(acme, "a", json!({ "a": "1" })).await;
    let d_ab = app.daemon(&ab, "d-ab").await;
    let d_a = app.daemon(&a, "d-a").await;
    let listed = list(&owner, acme, "").await;
    assert_eq!(numbers(&listed, &jobs), vec![(1, 2), (1, 2), (0, 0)]);
    let workers = |reply: &Reply, job: Uuid| -> Value {
        reply
            .body
            .as_array()
            .into_iter()
            .flatten()
            .find(|j| j["id"] == json!(job))
            .map(|j| j["available_workers"].clone())
            .unwrap_or_default()
    };
    assert_eq!(workers(&listed, jobs[1]), json!([d_ab.id, d_a.id]));
    assert_eq!(workers(&listed, jobs[2]), Value::Null);
    let abc = owner.create_key(acme, "abc", json!({ "a": "1", "b": "2", "c": "3" })).await;
    app.daemon(&abc, "d-abc").await;
    assert_eq!(numbers(&list(&owner, acme, "").await, &jobs), vec![(1, 3), (1, 3), (3, 3)]);
    let single = owner.job(acme, jobs[2]).await;
    assert_eq!((single.body["queue_position"].clone(), single.body["queue_size"].clone()), (json!(3), json!(3)));
}

async fn queue_numbers_follow_daemons_going_offline_and_back(app: TestApp) {
    let app = TestApp::spawn_with(app.backend, |config| {
        config.settings.liveness = Liveness { stale_after: chrono::Duration::milliseconds(1500) };
    })
    .await
    .unwrap_or_else(|| panic!("the backend is available"));
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let job = owner.create_job(default, json!({})).await;
    let key = owner.create_key(default, "runner", json!({})).await;
    let daemon = app.daemon(&key, "runner").await;
    assert_eq!(numbers(&list(&owner, default, "").await, &[job]), vec![(1, 1)]);
    let daemons = owner.get(&format!("/api/v2/organizations/{default}/provisionerdaemons")).await;
    assert_eq!(daemons.body[0]["status"], "idle");
    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    assert_eq!(numbers(&list(&owner, default, "").await, &[job]), vec![(0, 0)]);
    let daemons = owner.get(&format!("/api/v2/organizations/{default}/provisionerdaemons")).await;
    assert_eq!(daemons.body[0]["status"], "offline");
    assert_eq!(daemon.heartbeat().await.status, 204);
    assert_eq!(numbers(&list(&owner, default, "").await, &[job]), vec![(1, 1)]);
}

async fn queue_numbers_move_when_jobs_are_canceled_or_start(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let key = owner.create_key(default, "runner", json!({})).await;
    let daemon = app.daemon(&key, "runner").await;
    let jobs = [
        owner.create_job(default, json!({})).await,
        owner.create_job(default, json!({})).await,
        owner.create_job(default, json!({})).await,
    ];
    assert_eq!(numbers(&list(&owner, default, "").await, &jobs), vec![(1, 3), (2, 3), (3, 3)]);
    let cancel = owner.post(&format!("{}/{}/cancel", jobs_path(default), jobs[0]), json!({})).await;
    assert_eq!(cancel.status, 200);
    assert_eq!(numbers(&list(&owner, default, "").await, &jobs), vec![(0, 0), (1, 2), (2, 2)]);
    assert_eq!(daemon.acquire_id().await, jobs[1]);
    assert_eq!(numbers(&list(&owner, default, "").await, &jobs), vec![(0, 0), (0, 0), (1, 1)]);
}

async fn a_job_needs_a_daemon_with_its_provisioner(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let key = owner.create_key(default, "runner", json!({})).await;
    let daemon = app.daemon(&key, "echo-only").await;
    let terraform = owner.post(&jobs_path(default), json!({ "type": "workspace_build" })).await;
    assert_eq!(terraform.body["status"], "pending");
    assert_eq!(numbers(&list(&owner, default, "").await, &[terraform.id()]), vec![(0, 0)]);
    assert_eq!(daemon.acquire(1).await, None);
}

async fn job_creation_checks_its_fields_and_normalises_tags(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let bad = owner.post(&jobs_path(default), json!({ "type": "deploy", "provisioner": "ansible" })).await;
    let fields: Vec<Value> =
        bad.body["validations"].as_array().into_iter().flatten().map(|v| v["field"].clone()).collect();
    assert_eq!((bad.status, fields), (400, vec![json!("type"), json!("provisioner")]));
    let user_scoped = owner
        .post(&jobs_path(default), json!({ "type": "workspace_build", "tags": { "scope": "user", "owner": "x" } }))
        .await;
    assert_eq!(user_scoped.status, 201);
    assert_eq!(user_scoped.body["tags"], json!({ "scope": "user", "owner": owner.user_id.to_string() }));
    assert_eq!(user_scoped.body["status"], "pending");
}

/// Past one page (500 rows) the list is streamed; it must read as the same single array, each
/// job once, with ties at a page boundary broken by id as everywhere else.
async fn long_lists_are_sent_whole_and_in_order_across_pages(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let key = owner.create_key(default, "runner", json!({})).await;
    let _daemon = app.daemon(&key, "runner").await;
    let start = domain::time::truncate(Utc::now());
    let mut created = Vec::new();
    // Three instants of 401 jobs each: pages of 500 end in the middle of an instant.
    for n in 0..1203 {
        let created_at = start + chrono::Duration::seconds(n / 401);
        created.push((created_at, seed_job(&app, default, owner.user_id, created_at)));
    }
    created.sort();
    let newest_first: Vec<Uuid> = created.iter().rev().map(|(_, id)| *id).collect();
    let all = list(&owner, default, "?limit=0").await;
    assert_eq!(ids(&all), newest_first);
    let (newest, oldest) = (newest_first[0], newest_first[1202]);
    assert_eq!(numbers(&all, &[newest, oldest]), vec![(1203, 1203), (1, 1203)], "queue numbers on every page");
    for limit in [499, 500, 501, 1000, 1203, 5000] {
        let some = list(&owner, default, &format!("?limit={limit}")).await;
        let expected = &newest_first[..newest_first.len().min(limit)];
        assert_eq!(ids(&some), expected, "limit={limit}");
    }
    let pending = list(&owner, default, "?status=pending&limit=0").await;
    assert_eq!(ids(&pending).len(), 1203);
    let none = list(&owner, default, "?status=succeeded&limit=0").await;
    assert_eq!(none.text, "[]");
}
