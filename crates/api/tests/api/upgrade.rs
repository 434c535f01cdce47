//! A database the first release made (migration 2026-11-28-000001 only, rows in every table
//! as that release wrote them) is upgraded in place by the new server on start, and every
//! row reads back through the API: organizations (deleted ones stay gone, their history
//! stays), users with their roles and statuses, memberships with roles, tokens (one issued
//! before the upgrade still signs in), provisioner keys (a daemon's old key still works),
//! daemons, and jobs in every status with their logs.

use std::collections::BTreeMap;

use domain::user::Password;
use serde_json::{Value, json};
use storage::testing::previous_release::PreviousRelease;
use storage::testing::{Backend, TestDatabase};
use uuid::Uuid;

use crate::harness::{Client, PASSWORD, TestApp};

/// The new server, started on an old database.
struct Upgraded {
    app: TestApp,
    /// The first release's owner, signed in with the token issued before the upgrade.
    owner: Client,
    release: PreviousRelease,
}

impl Upgraded {
    async fn start(backend: Backend) -> Option<Self> {
        let db = TestDatabase::new(backend)?;
        let password = Password::parse(PASSWORD, &[]).unwrap_or_else(|e| panic!("{e}"));
        let hash = api::secrets::hash_password(&password).unwrap_or_else(|e| panic!("{e}"));
        let release = PreviousRelease::create(&db, &hash);
        let app = TestApp::on_database(db).await;
        let owner = app.anonymous().with_token(&release.owner_token);
        Some(Self { app, owner, release })
    }

    /// `(status, body)` of a request signed with the owner's token from before the upgrade.
    async fn owner(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.owner.call(method.as_str(), path, body).await.parts()
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.owner(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// A daemon call made with the provisioner key from before the upgrade.
    async fn daemon(&self, path: &str) -> (u16, Value) {
        let path = format!("/api/v2/provisionerdaemons/{}{path}", self.release.daemon);
        let request = self.owner.anonymous().request(reqwest::Method::POST, &path);
        let reply =
            self.owner.send(request.header("Coder-Provisioner-Daemon-Key", &self.release.provisioner_key)).await;
        reply.parts()
    }
}

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array().into_iter().flatten().map(|item| item[field].as_str().unwrap_or_default().to_owned()).collect()
}

fn linux_tags() -> Value {
    json!({ "os": "linux", "owner": "", "scope": "organization" })
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    if let Some(server) = super::Upgraded::start(storage::testing::Backend::Sqlite).await {
                        super::$name(server).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    if let Some(server) = super::Upgraded::start(storage::testing::Backend::Postgres).await {
                        super::$name(server).await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    people_keep_their_tokens_passwords_roles_and_memberships,
    organizations_keep_their_fields_and_deleted_ones_stay_gone,
    jobs_in_every_status_read_back_with_their_logs_and_queue,
    old_provisioner_keys_and_daemons_keep_working,
);

async fn people_keep_their_tokens_passwords_roles_and_memberships(server: Upgraded) {
    let release = &server.release;
    let me = server.get("/api/v2/users/me").await;
    assert_eq!((me["id"].as_str(), me["username"].as_str()), (Some(release.owner.to_string().as_str()), Some("owner")));
    assert!(names(&me["roles"], "name").contains(&"owner".to_owned()), "{me}");
    assert_eq!(me["organization_ids"], json!([release.default_organization, release.acme]));

    let login = server.app.login("owner@example.com", PASSWORD).await;
    assert_eq!(login.status, 201, "the password from before the upgrade");

    let users = server.get("/api/v2/users").await;
    let statuses: BTreeMap<String, String> = users["users"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| {
            (u["username"].as_str().unwrap_or_default().to_owned(), u["status"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    let expected: BTreeMap<String, String> =
        [("admin", "active"), ("member", "dormant"), ("owner", "active"), ("suspended", "suspended")]
            .map(|(user, status)| (user.to_owned(), status.to_owned()))
            .into();
    assert_eq!(statuses, expected, "the deleted user stays deleted");

    let members = server.get(&format!("/api/v2/organizations/{}/members", release.acme)).await;
    let roles: Vec<(String, Vec<String>)> = members
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (m["username"].as_str().unwrap_or_default().to_owned(), names(&m["roles"], "name")))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("admin".to_owned(), vec!["organization-admin".to_owned()]),
            ("member".to_owned(), vec![]),
            ("owner".to_owned(), vec![]),
        ]
    );

    let tokens = server.get("/api/v2/users/me/keys/tokens").await;
    assert_eq!(names(&tokens, "token_name"), vec!["ci".to_owned()]);
    assert_eq!(tokens[0]["lifetime_seconds"], 2_592_000);
}

async fn organizations_keep_their_fields_and_deleted_ones_stay_gone(server: Upgraded) {
    let release = &server.release;
    let organizations = server.get("/api/v2/organizations").await;
    assert_eq!(names(&organizations, "name"), vec!["acme".to_owned(), "coder".to_owned()]);
    let acme = server.get("/api/v2/organizations/acme").await;
    assert_eq!(acme["id"], json!(release.acme), "the live acme, not the deleted one of the same name");
    assert_eq!(
        (&acme["display_name"], &acme["description"], &acme["icon"], &acme["is_default"]),
        (&json!("Acme Corp"), &json!("Rockets"), &json!("/emojis/1f680.png"), &json!(false))
    );
    let created = chrono::DateTime::parse_from_rfc3339(acme["created_at"].as_str().unwrap_or_default());
    assert_eq!(created.ok().map(|at| at.to_utc()), Some(release.now - chrono::Duration::days(3)), "to the microsecond");
    for deleted in release.deleted_organizations {
        let (status, _) = server.owner(reqwest::Method::GET, &format!("/api/v2/organizations/{deleted}"), None).await;
        assert_eq!(status, 404);
    }
    // Their history is kept, not shown.
    assert_eq!(server.app.database().count_rows("organizations"), 4);
    let history = server.app.database().count_rows("provisioner_jobs");
    assert_eq!(history, 8);
}

async fn jobs_in_every_status_read_back_with_their_logs_and_queue(server: Upgraded) {
    let release = &server.release;
    let jobs = server.get(&format!("/api/v2/organizations/{}/provisionerjobs?limit=0", release.acme)).await;
    let by_id: BTreeMap<String, Value> = jobs
        .as_array()
        .into_iter()
        .flatten()
        .map(|job| (job["id"].as_str().unwrap_or_default().to_owned(), job.clone()))
        .collect();
    assert_eq!(by_id.len(), release.jobs.len());
    for (id, status, lines) in &release.jobs {
        let job = &by_id[&id.to_string()];
        assert_eq!(job["status"], json!(status.as_str()), "{job}");
        assert_eq!(job["tags"], linux_tags());
        assert_eq!(
            job["input"]["template_version_id"],
            json!(Uuid::from_u128(0x0190_a000_0000_7000_8000_0000_0000_e002))
        );
        assert_eq!(job["metadata"]["template_name"], "docker");
        let logs = server.get(&format!("/api/v2/organizations/{}/provisionerjobs/{id}/logs", release.acme)).await;
        let outputs = names(&logs, "output");
        assert_eq!(outputs, (0..*lines).map(|n| format!("line {n}")).collect::<Vec<_>>(), "logs of {id}");
    }
    let failed = by_id.values().find(|job| job["status"] == "failed").cloned().unwrap_or_default();
    assert_eq!(
        (&failed["error"], &failed["error_code"], &failed["worker_name"]),
        (&json!("boom"), &json!("INSUFFICIENT_QUOTA"), &json!("builder-1"))
    );
    let transitions: Vec<&Value> = by_id.values().map(|job| &job["metadata"]["workspace_build_transition"]).collect();
    assert!(transitions.contains(&&json!("start")), "{transitions:?}");
    // The daemon from before the upgrade is online, offers echo and carries the job's tags.
    let pending = by_id.values().find(|job| job["status"] == "pending").cloned().unwrap_or_default();
    assert_eq!((&pending["queue_position"], &pending["queue_size"]), (&json!(1), &json!(1)), "{pending}");
    assert_eq!(pending["available_workers"], json!([release.daemon]));
    let default_jobs = server.get("/api/v2/organizations/default/provisionerjobs").await;
    assert_eq!(names(&default_jobs, "id"), vec![release.default_job.to_string()]);
}

async fn old_provisioner_keys_and_daemons_keep_working(server: Upgraded) {
    let release = &server.release;
    let keys = server.get(&format!("/api/v2/organizations/{}/provisionerkeys", release.acme)).await;
    assert_eq!(names(&keys, "name"), vec!["builders".to_owned()]);
    assert_eq!(keys[0]["tags"], linux_tags());
    let daemons = server.get(&format!("/api/v2/organizations/{}/provisionerdaemons", release.acme)).await;
    let daemon = &daemons[0];
    assert_eq!(
        (&daemon["name"], &daemon["provisioners"], &daemon["tags"], &daemon["api_version"], &daemon["version"]),
        (&json!("builder-1"), &json!(["echo", "terraform"]), &linux_tags(), &json!("1.0"), &json!("v0.9.0"))
    );
    assert_eq!(daemon["key_name"], "builders");

    assert_eq!(server.daemon("/heartbeat").await.0, 204, "the key from before the upgrade");
    let (status, job) = server.daemon("/acquire?timeout=0").await;
    assert_eq!((status, &job["id"]), (200, &json!(release.jobs[0].0)), "the pending job, on migrated tags");
    let (status, _) = server.daemon(&format!("/jobs/{}/complete", release.jobs[0].0)).await;
    assert_eq!(status, 200);

    // A job created now with the same tags shares the migrated tag set instead of a twin.
    let (status, created) = server
        .owner(
            reqwest::Method::POST,
            &format!("/api/v2/organizations/{}/provisionerjobs", release.acme),
            Some(json!({ "type": "template_version_import", "provisioner": "echo", "tags": { "os": "linux" } })),
        )
        .await;
    assert_eq!((status, &created["queue_position"]), (201, &json!(1)), "{created}");
    assert_eq!(server.app.database().count_rows("provisioner_tag_sets"), 2);
}
