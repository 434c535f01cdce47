-- Back to the tables of 2026-11-28-000001_init, keeping every row: role and provisioner rows
-- become comma-separated lists again, tag set ids 32 hex digits, and the checks go. Run with
-- foreign keys off, like the way up.

CREATE TABLE organizations_old (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    icon         TEXT NOT NULL DEFAULT '',
    is_default   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    deleted_at   TIMESTAMP NULL
);
INSERT INTO organizations_old SELECT id, name, display_name, description, icon, is_default, created_at, updated_at,
    deleted_at FROM organizations;
DROP TABLE organizations;
ALTER TABLE organizations_old RENAME TO organizations;
CREATE UNIQUE INDEX organizations_live_name ON organizations (lower(name)) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX organizations_one_default ON organizations (is_default) WHERE is_default = TRUE;

CREATE TABLE users_old (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    username        TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    hashed_password TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active',
    site_roles      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    last_seen_at    TIMESTAMP NOT NULL,
    deleted_at      TIMESTAMP NULL
);
INSERT INTO users_old
SELECT id, email, username, name, hashed_password, status,
    coalesce((SELECT group_concat(role, ',' ORDER BY role) FROM user_site_roles WHERE user_id = users.id), ''),
    created_at, updated_at, last_seen_at, deleted_at
FROM users;
DROP TABLE user_site_roles;
DROP TABLE users;
ALTER TABLE users_old RENAME TO users;
CREATE UNIQUE INDEX users_email ON users (lower(email)) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_username ON users (lower(username)) WHERE deleted_at IS NULL;

CREATE TABLE organization_members_old (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    user_id         TEXT NOT NULL REFERENCES users (id),
    roles           TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
INSERT INTO organization_members_old
SELECT organization_id, user_id,
    coalesce((SELECT group_concat(role, ',' ORDER BY role) FROM organization_member_roles AS roles
        WHERE roles.organization_id = members.organization_id AND roles.user_id = members.user_id), ''),
    created_at, updated_at
FROM organization_members AS members;
DROP TABLE organization_member_roles;
DROP TABLE organization_members;
ALTER TABLE organization_members_old RENAME TO organization_members;
CREATE INDEX organization_members_user ON organization_members (user_id);

CREATE TABLE api_keys_old (
    id               TEXT PRIMARY KEY,
    hashed_secret    BLOB NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id),
    login_type       TEXT NOT NULL,
    token_name       TEXT NOT NULL DEFAULT '',
    lifetime_seconds BIGINT NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    last_used        TIMESTAMP NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
INSERT INTO api_keys_old SELECT id, hashed_secret, user_id, login_type, token_name, lifetime_seconds, expires_at,
    last_used, created_at, updated_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_old RENAME TO api_keys;
CREATE INDEX api_keys_user ON api_keys (user_id);
CREATE UNIQUE INDEX api_keys_token_name ON api_keys (user_id, lower(token_name)) WHERE login_type = 'token';

CREATE TABLE provisioner_tag_sets_old (
    id   TEXT PRIMARY KEY,
    tags TEXT NOT NULL
);
INSERT INTO provisioner_tag_sets_old SELECT replace(id, '-', ''), tags FROM provisioner_tag_sets;
DROP TABLE provisioner_tag_sets;
ALTER TABLE provisioner_tag_sets_old RENAME TO provisioner_tag_sets;

CREATE TABLE provisioner_keys_old (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    hashed_secret   BLOB NOT NULL,
    tag_set_id      TEXT NOT NULL REFERENCES provisioner_tag_sets (id),
    created_at      TIMESTAMP NOT NULL
);
INSERT INTO provisioner_keys_old SELECT id, organization_id, name, hashed_secret, replace(tag_set_id, '-', ''), created_at
FROM provisioner_keys;
DROP TABLE provisioner_keys;
ALTER TABLE provisioner_keys_old RENAME TO provisioner_keys;
CREATE UNIQUE INDEX provisioner_keys_name ON provisioner_keys (organization_id, lower(name));
CREATE UNIQUE INDEX provisioner_keys_secret ON provisioner_keys (hashed_secret);

CREATE TABLE provisioner_daemons_old (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    key_id          TEXT NOT NULL REFERENCES provisioner_keys (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    version         TEXT NOT NULL DEFAULT '',
    api_version     TEXT NOT NULL DEFAULT '',
    provisioners    TEXT NOT NULL,
    tag_set_id      TEXT NOT NULL REFERENCES provisioner_tag_sets (id),
    created_at      TIMESTAMP NOT NULL,
    last_seen_at    TIMESTAMP NOT NULL
);
INSERT INTO provisioner_daemons_old
SELECT id, organization_id, key_id, name, version, api_version,
    coalesce((SELECT group_concat(provisioner, ',' ORDER BY provisioner) FROM provisioner_daemon_provisioners
        WHERE daemon_id = daemons.id), ''),
    replace(tag_set_id, '-', ''), created_at, last_seen_at
FROM provisioner_daemons AS daemons;
DROP TABLE provisioner_daemon_provisioners;
DROP TABLE provisioner_daemons;
ALTER TABLE provisioner_daemons_old RENAME TO provisioner_daemons;
CREATE UNIQUE INDEX provisioner_daemons_name ON provisioner_daemons (organization_id, lower(name));
CREATE INDEX provisioner_daemons_seen ON provisioner_daemons (organization_id, last_seen_at);

CREATE TABLE provisioner_jobs_old (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    initiator_id    TEXT NOT NULL REFERENCES users (id),
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    started_at      TIMESTAMP NULL,
    completed_at    TIMESTAMP NULL,
    canceled_at     TIMESTAMP NULL,
    error           TEXT NULL,
    error_code      TEXT NULL,
    status          TEXT NOT NULL,
    job_type        TEXT NOT NULL,
    provisioner     TEXT NOT NULL,
    file_id         TEXT NULL,
    tag_set_id      TEXT NOT NULL REFERENCES provisioner_tag_sets (id),
    input           TEXT NOT NULL,
    metadata        TEXT NOT NULL,
    worker_id       TEXT NULL,
    logs_length     BIGINT NOT NULL DEFAULT 0,
    logs_overflowed BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO provisioner_jobs_old
SELECT id, organization_id, initiator_id, created_at, updated_at, started_at, completed_at, canceled_at, error,
    error_code, status, job_type, provisioner, file_id, replace(tag_set_id, '-', ''), input, metadata, worker_id,
    logs_length, logs_overflowed
FROM provisioner_jobs;
DROP TABLE provisioner_jobs;
ALTER TABLE provisioner_jobs_old RENAME TO provisioner_jobs;
CREATE INDEX provisioner_jobs_org_created ON provisioner_jobs (organization_id, created_at DESC, id DESC);
CREATE INDEX provisioner_jobs_org_initiator ON provisioner_jobs (organization_id, initiator_id, created_at DESC, id DESC);
CREATE INDEX provisioner_jobs_org_status ON provisioner_jobs (organization_id, status, created_at, id);
CREATE INDEX provisioner_jobs_status_updated ON provisioner_jobs (status, updated_at);
CREATE INDEX provisioner_jobs_worker ON provisioner_jobs (worker_id, completed_at);

CREATE TABLE provisioner_job_logs_old (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT NOT NULL REFERENCES provisioner_jobs (id),
    created_at TIMESTAMP NOT NULL,
    source     TEXT NOT NULL,
    level      TEXT NOT NULL,
    stage      TEXT NOT NULL,
    output     TEXT NOT NULL
);
INSERT INTO provisioner_job_logs_old SELECT id, job_id, created_at, source, level, stage, output FROM provisioner_job_logs;
UPDATE sqlite_sequence
SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'provisioner_job_logs'), 0))
WHERE name = 'provisioner_job_logs_old';
DROP TABLE provisioner_job_logs;
ALTER TABLE provisioner_job_logs_old RENAME TO provisioner_job_logs;
CREATE INDEX provisioner_job_logs_job ON provisioner_job_logs (job_id, id);

-- Every reference must still hold. The count of those that do not goes into a column that
-- accepts only zero: a broken reference fails the migration, which then changes nothing.
CREATE TEMP TABLE migration_dangling_references (dangling INTEGER NOT NULL CHECK (dangling = 0));
INSERT INTO migration_dangling_references SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE migration_dangling_references;
