//! The permission matrix: every route of the API, as each kind of caller. A route that is
//! not in the table fails the test, so new routes must state who may call them.

use api::router::RouteTable;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Cast, Client, PASSWORD, TestApp, TestDaemon};
use crate::on_both_backends;

on_both_backends!(every_route_answers_each_caller_as_the_contract_says);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Owner,
    OrgAdmin,
    OrgMember,
    Outsider,
    Anonymous,
}

const CALLERS: [Caller; 5] = [Caller::Owner, Caller::OrgAdmin, Caller::OrgMember, Caller::Outsider, Caller::Anonymous];

/// `(method, route, [owner, organization admin, organization member, member of another
/// organization, anonymous])`.
const MATRIX: &[(&str, &str, [u16; 5])] = &[
    ("GET", "/healthz", [200, 200, 200, 200, 200]),
    ("GET", "/readyz", [200, 200, 200, 200, 200]),
    ("GET", "/api/v2/users/first", [200, 200, 200, 200, 200]),
    ("POST", "/api/v2/users/first", [409, 409, 409, 409, 409]),
    ("POST", "/api/v2/users/login", [201, 201, 201, 201, 201]),
    ("POST", "/api/v2/users/logout", [200, 200, 200, 200, 401]),
    ("GET", "/api/v2/users", [200, 403, 403, 403, 401]),
    ("POST", "/api/v2/users", [201, 403, 403, 403, 401]),
    ("GET", "/api/v2/users/{user}", [200, 400, 200, 400, 401]),
    ("DELETE", "/api/v2/users/{user}", [200, 400, 403, 400, 401]),
    ("PUT", "/api/v2/users/{user}/roles", [200, 400, 400, 400, 401]),
    ("PUT", "/api/v2/users/{user}/status/suspend", [200, 400, 400, 400, 401]),
    ("PUT", "/api/v2/users/{user}/status/activate", [200, 400, 403, 400, 401]),
    ("GET", "/api/v2/users/{user}/organizations", [200, 400, 200, 400, 401]),
    ("GET", "/api/v2/users/{user}/organizations/{organizationname}", [200, 400, 200, 400, 401]),
    ("POST", "/api/v2/users/{user}/keys/tokens", [201, 400, 201, 400, 401]),
    ("GET", "/api/v2/users/{user}/keys/tokens", [200, 400, 200, 400, 401]),
    ("DELETE", "/api/v2/users/{user}/keys/{keyid}", [204, 400, 204, 400, 401]),
    ("GET", "/api/v2/organizations", [200, 200, 200, 200, 401]),
    ("POST", "/api/v2/organizations", [201, 403, 403, 403, 401]),
    ("GET", "/api/v2/organizations/{organization}", [200, 200, 200, 404, 401]),
    ("PATCH", "/api/v2/organizations/{organization}", [200, 200, 403, 404, 401]),
    ("DELETE", "/api/v2/organizations/{organization}", [200, 200, 403, 404, 401]),
    ("GET", "/api/v2/organizations/{organization}/members", [200, 200, 200, 404, 401]),
    ("POST", "/api/v2/organizations/{organization}/members/{user}", [200, 200, 403, 404, 401]),
    ("DELETE", "/api/v2/organizations/{organization}/members/{user}", [204, 204, 403, 404, 401]),
    ("PUT", "/api/v2/organizations/{organization}/members/{user}/roles", [200, 200, 403, 404, 401]),
    ("GET", "/api/v2/organizations/{organization}/provisionerjobs", [200, 200, 200, 404, 401]),
    ("POST", "/api/v2/organizations/{organization}/provisionerjobs", [201, 201, 201, 404, 401]),
    ("GET", "/api/v2/organizations/{organization}/provisionerjobs/{job}", [200, 200, 404, 404, 401]),
    ("POST", "/api/v2/organizations/{organization}/provisionerjobs/{job}/cancel", [200, 200, 404, 404, 401]),
    ("GET", "/api/v2/organizations/{organization}/provisionerjobs/{job}/logs", [200, 200, 404, 404, 401]),
    ("GET", "/api/v2/organizations/{organization}/provisionerkeys", [200, 200, 403, 404, 401]),
    ("POST", "/api/v2/organizations/{organization}/provisionerkeys", [201, 201, 403, 404, 401]),
    ("DELETE", "/api/v2/organizations/{organization}/provisionerkeys/{provisionerkey}", [204, 204, 403, 404, 401]),
    ("GET", "/api/v2/organizations/{organization}/provisionerdaemons", [200, 200, 200, 404, 401]),
    // Daemons sign in with provisioner keys; no user session opens these.
    ("POST", "/api/v2/provisionerdaemons", [401, 401, 401, 401, 401]),
    ("POST", "/api/v2/provisionerdaemons/{daemon}/heartbeat", [401, 401, 401, 401, 401]),
    ("POST", "/api/v2/provisionerdaemons/{daemon}/acquire", [401, 401, 401, 401, 401]),
    ("POST", "/api/v2/provisionerdaemons/{daemon}/jobs/{job}/update", [401, 401, 401, 401, 401]),
    ("POST", "/api/v2/provisionerdaemons/{daemon}/jobs/{job}/complete", [401, 401, 401, 401, 401]),
    ("POST", "/api/v2/provisionerdaemons/{daemon}/jobs/{job}/fail", [401, 401, 401, 401, 401]),
];

/// The people and things every cell needs.
struct World {
    app: TestApp,
    owner: Client,
    admin: Client,
    member: Client,
    outsider: Client,
    acme: Uuid,
    job: Uuid,
    daemon: TestDaemon,
    serial: std::cell::Cell<u32>,
}

impl World {
    async fn new(app: TestApp) -> Self {
        let Cast { owner, acme, admin, member, outsider, .. } = app.cast().await;
        let job = owner.create_job(acme, json!({})).await;
        let key = owner.create_key(acme, "runner", json!({})).await;
        let daemon = app.daemon(&key, "runner").await;
        Self { app, owner, admin, member, outsider, acme, job, daemon, serial: std::cell::Cell::new(0) }
    }

    fn client(&self, caller: Caller) -> Client {
        match caller {
            Caller::Owner => self.owner.clone(),
            Caller::OrgAdmin => self.admin.clone(),
            Caller::OrgMember => self.member.clone(),
            Caller::Outsider => self.outsider.clone(),
            Caller::Anonymous => self.owner.anonymous(),
        }
    }

    fn unique(&self, prefix: &str) -> String {
        self.serial.set(self.serial.get() + 1);
        format!("{prefix}{}", self.serial.get())
    }

    /// A new organization shaped like acme (admin as admin, member as member).
    async fn fresh_organization(&self) -> Uuid {
        let id = self.owner.create_organization(&self.unique("fresh-")).await;
        self.owner.add_member(id, &self.admin).await;
        self.owner.make_admin(id, &self.admin).await;
        self.owner.add_member(id, &self.member).await;
        id
    }

    /// An organization `caller` could delete if allowed: nobody else in it.
    async fn deletable_organization(&self, caller: Caller) -> Uuid {
        let id = self.owner.create_organization(&self.unique("doomed-")).await;
        match caller {
            Caller::OrgAdmin => {
                self.owner.add_member(id, &self.admin).await;
                self.owner.make_admin(id, &self.admin).await;
                let reply =
                    self.admin.delete(&format!("/api/v2/organizations/{id}/members/{}", self.owner.user_id)).await;
                assert_eq!(reply.status, 204, "{}", reply.text);
            }
            Caller::OrgMember => self.owner.add_member(id, &self.member).await,
            _ => {}
        }
        id
    }

    /// The request a caller makes to a route: path and body.
    async fn request(&self, method: &str, route: &str, caller: Caller) -> (String, Option<Value>) {
        let acme = self.acme;
        let member = self.member.user_id;
        let daemon = self.daemon.id;
        let job = self.job;
        match (method, route) {
            ("GET", "/healthz" | "/readyz") => (route.into(), None),
            ("GET", "/api/v2/users/first") => (route.into(), None),
            ("POST", "/api/v2/users/first") => {
                (route.into(), Some(json!({ "email": "x@example.com", "username": "x", "password": PASSWORD })))
            }
            ("POST", "/api/v2/users/login") => {
                (route.into(), Some(json!({ "email": "member@example.com", "password": PASSWORD })))
            }
            ("POST", "/api/v2/users/logout") => (route.into(), Some(json!({}))),
            ("GET", "/api/v2/users") => (route.into(), None),
            ("POST", "/api/v2/users") => {
                let name = self.unique("new-user-");
                (
                    route.into(),
                    Some(json!({ "email": format!("{name}@example.com"), "username": name, "password": PASSWORD })),
                )
            }
            ("GET", "/api/v2/users/{user}") => (format!("/api/v2/users/{member}"), None),
            ("DELETE", "/api/v2/users/{user}") => match caller {
                // Oneself: refused whoever asks (the member here), so the world stays intact.
                Caller::OrgMember => (format!("/api/v2/users/{member}"), None),
                _ => {
                    let target = self.app.user(&self.owner, &self.unique("leaving-"), &[acme]).await;
                    (format!("/api/v2/users/{}", target.user_id), None)
                }
            },
            ("PUT", "/api/v2/users/{user}/roles") => {
                (format!("/api/v2/users/{member}/roles"), Some(json!({ "roles": [] })))
            }
            ("PUT", "/api/v2/users/{user}/status/suspend") => {
                let target = self.app.user(&self.owner, &self.unique("target-"), &[acme]).await;
                (format!("/api/v2/users/{}/status/suspend", target.user_id), Some(json!({})))
            }
            ("PUT", "/api/v2/users/{user}/status/activate") => {
                (format!("/api/v2/users/{member}/status/activate"), Some(json!({})))
            }
            ("GET", "/api/v2/users/{user}/organizations") => (format!("/api/v2/users/{member}/organizations"), None),
            ("GET", "/api/v2/users/{user}/organizations/{organizationname}") => {
                (format!("/api/v2/users/{member}/organizations/acme"), None)
            }
            ("POST", "/api/v2/users/{user}/keys/tokens") => {
                (format!("/api/v2/users/{member}/keys/tokens"), Some(json!({})))
            }
            ("GET", "/api/v2/users/{user}/keys/tokens") => (format!("/api/v2/users/{member}/keys/tokens"), None),
            ("DELETE", "/api/v2/users/{user}/keys/{keyid}") => {
                let created = self.owner.post(&format!("/api/v2/users/{member}/keys/tokens"), json!({})).await;
                let key = created.body["key"].as_str().unwrap_or_default()[..10].to_owned();
                (format!("/api/v2/users/{member}/keys/{key}"), None)
            }
            ("GET", "/api/v2/organizations") => (route.into(), None),
            ("POST", "/api/v2/organizations") => (route.into(), Some(json!({ "name": self.unique("created-") }))),
            ("GET", "/api/v2/organizations/{organization}") => (format!("/api/v2/organizations/{acme}"), None),
            ("PATCH", "/api/v2/organizations/{organization}") => (
                format!("/api/v2/organizations/{}", self.fresh_organization().await),
                Some(json!({ "display_name": "Changed" })),
            ),
            ("DELETE", "/api/v2/organizations/{organization}") => {
                (format!("/api/v2/organizations/{}", self.deletable_organization(caller).await), None)
            }
            ("GET", "/api/v2/organizations/{organization}/members") => {
                (format!("/api/v2/organizations/{acme}/members"), None)
            }
            ("POST", "/api/v2/organizations/{organization}/members/{user}") => {
                let id = self.fresh_organization().await;
                (format!("/api/v2/organizations/{id}/members/{}", self.outsider.user_id), Some(json!({})))
            }
            ("DELETE", "/api/v2/organizations/{organization}/members/{user}") => {
                (format!("/api/v2/organizations/{}/members/{member}", self.fresh_organization().await), None)
            }
            ("PUT", "/api/v2/organizations/{organization}/members/{user}/roles") => {
                let id = self.fresh_organization().await;
                (format!("/api/v2/organizations/{id}/members/{member}/roles"), Some(json!({ "roles": [] })))
            }
            ("GET", "/api/v2/organizations/{organization}/provisionerjobs") => {
                (format!("/api/v2/organizations/{acme}/provisionerjobs"), None)
            }
            ("POST", "/api/v2/organizations/{organization}/provisionerjobs") => {
                (format!("/api/v2/organizations/{acme}/provisionerjobs"), Some(json!({ "type": "workspace_build" })))
            }
            ("GET", "/api/v2/organizations/{organization}/provisionerjobs/{job}") => {
                (format!("/api/v2/organizations/{acme}/provisionerjobs/{job}"), None)
            }
            ("POST", "/api/v2/organizations/{organization}/provisionerjobs/{job}/cancel") => {
                let fresh = self.owner.create_job(acme, json!({ "never": "runs" })).await;
                (format!("/api/v2/organizations/{acme}/provisionerjobs/{fresh}/cancel"), Some(json!({})))
            }
            ("GET", "/api/v2/organizations/{organization}/provisionerjobs/{job}/logs") => {
                (format!("/api/v2/organizations/{acme}/provisionerjobs/{job}/logs"), None)
            }
            ("GET", "/api/v2/organizations/{organization}/provisionerkeys") => {
                (format!("/api/v2/organizations/{acme}/provisionerkeys"), None)
            }
            ("POST", "/api/v2/organizations/{organization}/provisionerkeys") => {
                (format!("/api/v2/organizations/{acme}/provisionerkeys"), Some(json!({ "name": self.unique("key-") })))
            }
            ("DELETE", "/api/v2/organizations/{organization}/provisionerkeys/{provisionerkey}") => {
                let name = self.unique("doomed-key-");
                self.owner.create_key(acme, &name, json!({})).await;
                (format!("/api/v2/organizations/{acme}/provisionerkeys/{name}"), None)
            }
            ("GET", "/api/v2/organizations/{organization}/provisionerdaemons") => {
                (format!("/api/v2/organizations/{acme}/provisionerdaemons"), None)
            }
            ("POST", "/api/v2/provisionerdaemons") => (route.into(), Some(json!({ "name": "d" }))),
            ("POST", "/api/v2/provisionerdaemons/{daemon}/heartbeat") => {
                (format!("/api/v2/provisionerdaemons/{daemon}/heartbeat"), None)
            }
            ("POST", "/api/v2/provisionerdaemons/{daemon}/acquire") => {
                (format!("/api/v2/provisionerdaemons/{daemon}/acquire?timeout=0"), None)
            }
            ("POST", "/api/v2/provisionerdaemons/{daemon}/jobs/{job}/update") => {
                (format!("/api/v2/provisionerdaemons/{daemon}/jobs/{job}/update"), Some(json!({ "logs": [] })))
            }
            ("POST", "/api/v2/provisionerdaemons/{daemon}/jobs/{job}/complete") => {
                (format!("/api/v2/provisionerdaemons/{daemon}/jobs/{job}/complete"), None)
            }
            ("POST", "/api/v2/provisionerdaemons/{daemon}/jobs/{job}/fail") => {
                (format!("/api/v2/provisionerdaemons/{daemon}/jobs/{job}/fail"), Some(json!({ "error": "x" })))
            }
            _ => panic!("the matrix has no request for {method} {route}: add one"),
        }
    }
}

async fn every_route_answers_each_caller_as_the_contract_says(app: TestApp) {
    let documented = RouteTable::from_openapi(&api::openapi::document());
    let mut missing: Vec<String> = documented
        .operations()
        .into_iter()
        .filter(|(method, route)| !MATRIX.iter().any(|(m, r, _)| m == method && r == route))
        .map(|(method, route)| format!("{method} {route}"))
        .collect();
    missing.sort();
    assert!(missing.is_empty(), "routes missing from the permission matrix: {missing:?}");
    assert_eq!(documented.operations().len(), MATRIX.len(), "the matrix lists a route the API does not have");

    let world = World::new(app).await;
    let mut wrong = Vec::new();
    for (method, route, expected) in MATRIX {
        for (caller, status) in CALLERS.iter().zip(expected) {
            let mut client = world.client(*caller);
            if *route == "/api/v2/users/logout" && *caller != Caller::Anonymous {
                // Log out of a fresh session, not the one the other cells use.
                let login = world.app.login(&format!("{}@example.com", client.username), PASSWORD).await;
                client = client.with_token(login.body["session_token"].as_str().unwrap_or_default());
            }
            let (path, body) = world.request(method, route, *caller).await;
            let reply = client.call(method, &path, body).await;
            if reply.status != *status {
                wrong.push(format!(
                    "{method} {route} as {caller:?}: expected {status}, got {} {}",
                    reply.status, reply.text
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
