//! A database as the first release (migration `2026-11-28-000001_init`) left it: its schema
//! only, and rows in every table written the way that release wrote them (UUIDs as text,
//! naive UTC times, comma-separated role and provisioner lists, JSON kept as text, tag set ids
//! as 32 hex digits). For the tests that upgrade such a database and read it back.

use chrono::{DateTime, Duration, Utc};
use domain::auth::hash_secret;
use domain::provisioner::{JobStatus, Tags};
use uuid::Uuid;

use super::{Backend, TestDatabase};
use crate::migrate;
use crate::rows::tag_sets::{canonical, fingerprint};

/// The migration the first release ended with.
pub const VERSION: &str = "2026-11-28-000001";

fn id(n: u32) -> Uuid {
    Uuid::from_u128(0x0190_a000_0000_7000_8000_0000_0000_0000 | u128::from(n))
}

/// What the rows hold, for reading them back.
pub struct PreviousRelease {
    pub default_organization: Uuid,
    /// Live, with a description and an icon; a deleted organization of the same name exists.
    pub acme: Uuid,
    pub deleted_organizations: [Uuid; 2],
    /// Owner (site role), member of the default organization and of acme.
    pub owner: Uuid,
    /// Organization admin of acme.
    pub admin: Uuid,
    /// Plain member of the default organization and of acme, dormant.
    pub member: Uuid,
    pub suspended: Uuid,
    pub deleted_user: Uuid,
    /// `id-secret` of the owner's token named `ci`, valid for another 30 days.
    pub owner_token: String,
    /// The raw secret of acme's provisioner key `builders` (tags `os=linux`).
    pub provisioner_key: String,
    pub builders_key: Uuid,
    /// Acme's daemon `builder-1`: offers echo and terraform, tags `os=linux`, seen a minute ago.
    pub daemon: Uuid,
    /// Acme's jobs, one in every status a job can be in, with their log line counts.
    pub jobs: Vec<(Uuid, JobStatus, usize)>,
    /// A job of the default organization and one of a deleted organization (history).
    pub default_job: Uuid,
    pub history_job: Uuid,
    /// The tag set `os=linux`, as its job, key and daemon carry it.
    pub linux_tags: Tags,
    pub now: DateTime<Utc>,
}

impl PreviousRelease {
    /// A fresh database with the first release's schema and rows; `password_hash` is what
    /// the owner's password is stored as (the argon2 hash of whatever the caller will use).
    pub fn create(db: &TestDatabase, password_hash: &str) -> Self {
        let mut conn = db.connect().unwrap_or_else(|e| panic!("{e}"));
        migrate::run_until(&mut conn, VERSION).unwrap_or_else(|e| panic!("cannot create the old schema: {e}"));
        drop(conn);
        let release = Self::describe();
        db.execute(&release.rows(db.backend(), password_hash));
        release
    }

    fn describe() -> Self {
        let linux = [("os".to_owned(), "linux".to_owned())].into();
        Self {
            default_organization: id(0xd001),
            acme: id(0xd002),
            deleted_organizations: [id(0xd003), id(0xd004)],
            owner: id(0x0001),
            admin: id(0x0002),
            member: id(0x0003),
            suspended: id(0x0004),
            deleted_user: id(0x0005),
            owner_token: "ownertoken-Bq3x9TzLw2Rk8Vn4Mp6Yc1".to_owned(),
            provisioner_key: "pk7Hs2Qw9Xe4Rt6Yu8Io1Pa3Sd5Fg7Hj9Kl2Zx4Cv6B".to_owned(),
            builders_key: id(0xb001),
            daemon: id(0xc001),
            jobs: vec![
                (id(0xa001), JobStatus::Pending, 0),
                (id(0xa002), JobStatus::Running, 2),
                (id(0xa003), JobStatus::Succeeded, 3),
                (id(0xa004), JobStatus::Canceling, 1),
                (id(0xa005), JobStatus::Canceled, 0),
                (id(0xa006), JobStatus::Failed, 1),
            ],
            default_job: id(0xa101),
            history_job: id(0xa201),
            linux_tags: Tags::normalise_for_organization(linux).unwrap_or_else(|e| panic!("{e}")),
            now: now(),
        }
    }

    fn rows(&self, backend: Backend, password_hash: &str) -> String {
        let at = |minutes_ago: i64| -> String {
            let instant = self.now - Duration::minutes(minutes_ago);
            format!("'{}'", instant.naive_utc().format("%Y-%m-%d %H:%M:%S%.f"))
        };
        let bytes = |raw: &[u8]| -> String {
            match backend {
                Backend::Postgres => format!("'\\x{}'::bytea", hex::encode(raw)),
                Backend::Sqlite => format!("X'{}'", hex::encode(raw)),
            }
        };
        let untagged = Tags::normalise_for_organization(Default::default()).unwrap_or_else(|e| panic!("{e}"));
        let tag_set = |tags: &Tags| -> (String, String) {
            (format!("'{}'", fingerprint(tags).0.simple()), format!("'{}'", canonical(tags)))
        };
        let (untagged_id, untagged_text) = tag_set(&untagged);
        let (linux_id, linux_text) = tag_set(&self.linux_tags);
        let (token_id, token_secret) = self.owner_token.split_once('-').unwrap_or_default();
        let q = |id: Uuid| format!("'{id}'");
        let (coder, acme, gone, old_acme) = (
            q(self.default_organization),
            q(self.acme),
            q(self.deleted_organizations[0]),
            q(self.deleted_organizations[1]),
        );
        let (owner, admin, member, suspended, deleted) =
            (q(self.owner), q(self.admin), q(self.member), q(self.suspended), q(self.deleted_user));
        let (key, daemon) = (q(self.builders_key), q(self.daemon));
        let template = id(0xe001);
        let metadata = |name: &str, transition: &str| {
            format!(
                "'{{\"template_version_name\":\"v1\",\"template_id\":\"{template}\",\"template_name\":\"{name}\",\
                 \"template_display_name\":\"Docker\",\"template_icon\":\"/icon/docker.png\",\"workspace_id\":null,\
                 \"workspace_name\":\"\",\"workspace_build_transition\":{transition}}}'"
            )
        };
        let input = format!("'{{\"template_version_id\":\"{}\"}}'", id(0xe002));
        let mut sql = format!(
            "INSERT INTO organizations (id, name, display_name, description, icon, is_default, created_at, updated_at, deleted_at) VALUES \
             ({coder}, 'coder', 'Coder', 'Builtin default organization.', '', TRUE, {t0}, {t0}, NULL), \
             ({acme}, 'acme', 'Acme Corp', 'Rockets', '/emojis/1f680.png', FALSE, {t1}, {t2}, NULL), \
             ({gone}, 'gone', 'Gone', '', '', FALSE, {t1}, {t3}, {t3}), \
             ({old_acme}, 'acme', 'Acme (old)', '', '', FALSE, {t0}, {t1}, {t1});\n\
             INSERT INTO users (id, email, username, name, hashed_password, status, site_roles, created_at, updated_at, last_seen_at, deleted_at) VALUES \
             ({owner}, 'owner@example.com', 'owner', 'Owner', '{password_hash}', 'active', 'owner', {t0}, {t0}, {t4}, NULL), \
             ({admin}, 'admin@example.com', 'admin', 'Ada Admin', 'x', 'active', '', {t1}, {t1}, {t3}, NULL), \
             ({member}, 'member@example.com', 'member', '', 'x', 'dormant', '', {t1}, {t2}, {t2}, NULL), \
             ({suspended}, 'suspended@example.com', 'suspended', '', 'x', 'suspended', '', {t1}, {t3}, {t1}, NULL), \
             ({deleted}, 'deleted@example.com', 'deleted', '', 'x', 'active', '', {t1}, {t3}, {t1}, {t3});\n\
             INSERT INTO organization_members (organization_id, user_id, roles, created_at, updated_at) VALUES \
             ({coder}, {owner}, '', {t0}, {t0}), ({acme}, {owner}, '', {t1}, {t1}), \
             ({acme}, {admin}, 'organization-admin', {t1}, {t2}), \
             ({coder}, {member}, '', {t1}, {t1}), ({acme}, {member}, '', {t1}, {t1}), \
             ({coder}, {suspended}, '', {t1}, {t1});\n\
             INSERT INTO api_keys (id, hashed_secret, user_id, login_type, token_name, lifetime_seconds, expires_at, last_used, created_at, updated_at) VALUES \
             ('{token_id}', {token_hash}, {owner}, 'token', 'ci', 2592000, {expires}, {t4}, {t2}, {t4}), \
             ('sessionkey', {session_hash}, {owner}, 'password', '', 86400, {expires}, {t4}, {t4}, {t4}), \
             ('membertokn', {member_hash}, {member}, 'token', 'member-ci', 2592000, {expires}, {t2}, {t2}, {t2});\n\
             INSERT INTO provisioner_tag_sets (id, tags) VALUES ({untagged_id}, {untagged_text}), ({linux_id}, {linux_text});\n\
             INSERT INTO provisioner_keys (id, organization_id, name, hashed_secret, tag_set_id, created_at) VALUES \
             ({key}, {acme}, 'builders', {key_hash}, {linux_id}, {t2});\n\
             INSERT INTO provisioner_daemons (id, organization_id, key_id, name, version, api_version, provisioners, tag_set_id, created_at, last_seen_at) VALUES \
             ({daemon}, {acme}, {key}, 'builder-1', 'v0.9.0', '1.0', 'echo,terraform', {linux_id}, {t2}, {t5});\n",
            t0 = at(60 * 24 * 7),
            t1 = at(60 * 24 * 3),
            t2 = at(60 * 24),
            t3 = at(60),
            t4 = at(2),
            t5 = at(1),
            expires = format!("'{}'", (self.now + Duration::days(30)).naive_utc().format("%Y-%m-%d %H:%M:%S%.f")),
            token_hash = bytes(&hash_secret(token_secret)),
            session_hash = bytes(&hash_secret("session-secret-of-the-owner")),
            member_hash = bytes(&hash_secret("member-secret-of-the-member")),
            key_hash = bytes(&hash_secret(&self.provisioner_key)),
        );
        // Acme's jobs: created 20..15 minutes ago, active ones touched within the minute, so
        // the reaper leaves them alone.
        let job_columns = "id, organization_id, initiator_id, created_at, updated_at, started_at, completed_at, \
                           canceled_at, error, error_code, status, job_type, provisioner, file_id, tag_set_id, input, \
                           metadata, worker_id, logs_length, logs_overflowed";
        let none = "NULL".to_owned();
        for (n, (job, status, _)) in self.jobs.iter().enumerate() {
            let created = at(20 - n as i64);
            let (started, completed, canceled, error, code, worker, updated) = match status {
                JobStatus::Pending => (none.clone(), none.clone(), none.clone(), "NULL", "NULL", "NULL", at(1)),
                JobStatus::Running => (at(14), none.clone(), none.clone(), "NULL", "NULL", daemon.as_str(), at(1)),
                JobStatus::Succeeded => (at(14), at(10), none.clone(), "NULL", "NULL", daemon.as_str(), at(10)),
                JobStatus::Canceling => (at(13), none.clone(), at(2), "NULL", "NULL", daemon.as_str(), at(1)),
                JobStatus::Canceled => (none.clone(), at(12), at(12), "NULL", "NULL", "NULL", at(12)),
                _ => (at(13), at(11), none.clone(), "'boom'", "'INSUFFICIENT_QUOTA'", daemon.as_str(), at(11)),
            };
            let job_type = if n % 2 == 0 { "template_version_import" } else { "workspace_build" };
            let transition = if n % 2 == 0 { "null" } else { "\"start\"" };
            sql += &format!(
                "INSERT INTO provisioner_jobs ({job_columns}) VALUES ({job}, {acme}, {owner}, {created}, {updated}, \
                 {started}, {completed}, {canceled}, {error}, {code}, '{status}', '{job_type}', 'echo', {file}, {linux_id}, \
                 {input}, {metadata}, {worker}, {length}, FALSE);\n",
                job = q(*job),
                status = status.as_str(),
                file = q(id(0xf000 + n as u32)),
                metadata = metadata("docker", transition),
                length = 7 * self.logs_of(*job),
            );
        }
        sql += &format!(
            "INSERT INTO provisioner_jobs ({job_columns}) VALUES \
             ({default_job}, {coder}, {member}, {t}, {t}, NULL, NULL, NULL, NULL, NULL, 'pending', \
              'template_version_import', 'terraform', NULL, {untagged_id}, '{{}}', '{{}}', NULL, 0, FALSE), \
             ({history_job}, {gone}, {owner}, {old}, {old}, {old}, {old}, NULL, NULL, NULL, 'succeeded', \
              'template_version_import', 'terraform', NULL, {untagged_id}, '{{}}', '{{}}', NULL, 0, FALSE);\n",
            default_job = q(self.default_job),
            history_job = q(self.history_job),
            t = at(5),
            old = at(60 * 2),
        );
        for (job, _, lines) in &self.jobs {
            for line in 0..*lines {
                sql += &format!(
                    "INSERT INTO provisioner_job_logs (job_id, created_at, source, level, stage, output) VALUES \
                     ({job}, {at}, 'provisioner', '{level}', 'Planning', 'line {line}');\n",
                    job = q(*job),
                    at = at(14),
                    level = if line == 0 { "info" } else { "debug" },
                );
            }
        }
        sql
    }

    /// How many log lines this job has.
    pub fn logs_of(&self, job: Uuid) -> usize {
        self.jobs.iter().find(|(id, _, _)| *id == job).map_or(0, |(_, _, lines)| *lines)
    }
}

/// Now, as the fixture's times count back from it (to the microsecond, as stored).
fn now() -> DateTime<Utc> {
    domain::time::truncate(Utc::now())
}
