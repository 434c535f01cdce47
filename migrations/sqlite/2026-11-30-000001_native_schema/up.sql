-- The schema in SQLite's strictest terms, converting the rows already stored: STRICT tables
-- (a value of the wrong type is refused, not stored as whatever it is), the same checks on
-- closed sets as PostgreSQL, JSON that must be a valid object, and site roles, organization
-- roles and a daemon's provisioner types as rows of their own. Ids stay hyphenated UUID text
-- and times UTC text; tag set ids take the hyphenated form too.
--
-- SQLite changes a table by building a new one and copying the rows. The server runs this
-- with foreign keys off (they cannot be switched inside the migration's transaction) and
-- checks every reference afterwards (storage::migrate).

CREATE TABLE organizations_new (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    icon         TEXT NOT NULL DEFAULT '',
    is_default   INTEGER NOT NULL DEFAULT 0 CONSTRAINT organizations_is_default_bool CHECK (is_default IN (0, 1)),
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    deleted_at   TEXT NULL
) STRICT;
INSERT INTO organizations_new (id, name, display_name, description, icon, is_default, created_at, updated_at, deleted_at)
SELECT id, name, display_name, description, icon, is_default, created_at, updated_at, deleted_at FROM organizations;
DROP TABLE organizations;
ALTER TABLE organizations_new RENAME TO organizations;
CREATE UNIQUE INDEX organizations_live_name ON organizations (lower(name)) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX organizations_one_default ON organizations (is_default) WHERE is_default = TRUE;

CREATE TABLE users_new (
    id              TEXT PRIMARY KEY NOT NULL,
    email           TEXT NOT NULL,
    username        TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    hashed_password TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active'
        CONSTRAINT users_status_known CHECK (status IN ('active', 'dormant', 'suspended')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    deleted_at      TEXT NULL
) STRICT;
INSERT INTO users_new (id, email, username, name, hashed_password, status, created_at, updated_at, last_seen_at, deleted_at)
SELECT id, email, username, name, hashed_password, status, created_at, updated_at, last_seen_at, deleted_at FROM users;

-- Explicit site roles; every user is implicitly a `member`, which is never stored.
CREATE TABLE user_site_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CONSTRAINT user_site_roles_role_known CHECK (role IN ('owner')),
    PRIMARY KEY (user_id, role)
) STRICT, WITHOUT ROWID;
-- A comma-separated list read as a JSON array of its items.
INSERT INTO user_site_roles (user_id, role)
SELECT DISTINCT users.id, listed.value
FROM users, json_each('["' || replace(users.site_roles, ',', '","') || '"]') AS listed
WHERE listed.value <> '';

DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE UNIQUE INDEX users_email ON users (lower(email)) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_username ON users (lower(username)) WHERE deleted_at IS NULL;

CREATE TABLE organization_members_new (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    user_id         TEXT NOT NULL REFERENCES users (id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
) STRICT;
INSERT INTO organization_members_new (organization_id, user_id, created_at, updated_at)
SELECT organization_id, user_id, created_at, updated_at FROM organization_members;

-- Explicit organization roles; every member is implicitly an `organization-member`.
CREATE TABLE organization_member_roles (
    organization_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    role            TEXT NOT NULL
        CONSTRAINT organization_member_roles_role_known CHECK (role IN ('organization-admin')),
    PRIMARY KEY (organization_id, user_id, role),
    FOREIGN KEY (organization_id, user_id)
        REFERENCES organization_members (organization_id, user_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
INSERT INTO organization_member_roles (organization_id, user_id, role)
SELECT DISTINCT members.organization_id, members.user_id, listed.value
FROM organization_members AS members, json_each('["' || replace(members.roles, ',', '","') || '"]') AS listed
WHERE listed.value <> '';

DROP TABLE organization_members;
ALTER TABLE organization_members_new RENAME TO organization_members;
CREATE INDEX organization_members_user ON organization_members (user_id);
-- A user's roles in every organization at once (signing in, authorizing a request).
CREATE INDEX organization_member_roles_user ON organization_member_roles (user_id);

CREATE TABLE api_keys_new (
    id               TEXT PRIMARY KEY NOT NULL,
    hashed_secret    BLOB NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id),
    login_type       TEXT NOT NULL CONSTRAINT api_keys_login_type_known CHECK (login_type IN ('password', 'token')),
    token_name       TEXT NOT NULL DEFAULT '',
    lifetime_seconds INTEGER NOT NULL,
    expires_at       TEXT NOT NULL,
    last_used        TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;
INSERT INTO api_keys_new (id, hashed_secret, user_id, login_type, token_name, lifetime_seconds, expires_at, last_used,
    created_at, updated_at)
SELECT id, hashed_secret, user_id, login_type, token_name, lifetime_seconds, expires_at, last_used, created_at, updated_at
FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_new RENAME TO api_keys;
CREATE INDEX api_keys_user ON api_keys (user_id);
CREATE UNIQUE INDEX api_keys_token_name ON api_keys (user_id, lower(token_name)) WHERE login_type = 'token';

-- Tag set ids were 32 hex digits; they become the same 16 bytes as hyphenated UUID text.
CREATE TABLE provisioner_tag_sets_new (
    id   TEXT PRIMARY KEY NOT NULL,
    tags TEXT NOT NULL CONSTRAINT provisioner_tag_sets_tags_object CHECK (json_valid(tags) AND json_type(tags) = 'object')
) STRICT;
INSERT INTO provisioner_tag_sets_new (id, tags)
SELECT lower(substr(id, 1, 8) || '-' || substr(id, 9, 4) || '-' || substr(id, 13, 4) || '-' || substr(id, 17, 4) || '-'
    || substr(id, 21, 12)), tags
FROM provisioner_tag_sets;
DROP TABLE provisioner_tag_sets;
ALTER TABLE provisioner_tag_sets_new RENAME TO provisioner_tag_sets;

CREATE TABLE provisioner_keys_new (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    hashed_secret   BLOB NOT NULL,
    tag_set_id      TEXT NOT NULL REFERENCES provisioner_tag_sets (id),
    created_at      TEXT NOT NULL
) STRICT;
INSERT INTO provisioner_keys_new (id, organization_id, name, hashed_secret, tag_set_id, created_at)
SELECT id, organization_id, name, hashed_secret,
    lower(substr(tag_set_id, 1, 8) || '-' || substr(tag_set_id, 9, 4) || '-' || substr(tag_set_id, 13, 4) || '-'
        || substr(tag_set_id, 17, 4) || '-' || substr(tag_set_id, 21, 12)),
    created_at
FROM provisioner_keys;
DROP TABLE provisioner_keys;
ALTER TABLE provisioner_keys_new RENAME TO provisioner_keys;
CREATE UNIQUE INDEX provisioner_keys_name ON provisioner_keys (organization_id, lower(name));
CREATE UNIQUE INDEX provisioner_keys_secret ON provisioner_keys (hashed_secret);

CREATE TABLE provisioner_daemons_new (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    key_id          TEXT NOT NULL REFERENCES provisioner_keys (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    version         TEXT NOT NULL DEFAULT '',
    api_version     TEXT NOT NULL DEFAULT '',
    tag_set_id      TEXT NOT NULL REFERENCES provisioner_tag_sets (id),
    created_at      TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL
) STRICT;
INSERT INTO provisioner_daemons_new (id, organization_id, key_id, name, version, api_version, tag_set_id, created_at,
    last_seen_at)
SELECT id, organization_id, key_id, name, version, api_version,
    lower(substr(tag_set_id, 1, 8) || '-' || substr(tag_set_id, 9, 4) || '-' || substr(tag_set_id, 13, 4) || '-'
        || substr(tag_set_id, 17, 4) || '-' || substr(tag_set_id, 21, 12)),
    created_at, last_seen_at
FROM provisioner_daemons;

-- The provisioner types a daemon offers, one row each.
CREATE TABLE provisioner_daemon_provisioners (
    daemon_id   TEXT NOT NULL REFERENCES provisioner_daemons (id) ON DELETE CASCADE,
    provisioner TEXT NOT NULL
        CONSTRAINT provisioner_daemon_provisioners_known CHECK (provisioner IN ('echo', 'terraform')),
    PRIMARY KEY (daemon_id, provisioner)
) STRICT, WITHOUT ROWID;
INSERT INTO provisioner_daemon_provisioners (daemon_id, provisioner)
SELECT DISTINCT daemons.id, listed.value
FROM provisioner_daemons AS daemons, json_each('["' || replace(daemons.provisioners, ',', '","') || '"]') AS listed
WHERE listed.value <> '';

DROP TABLE provisioner_daemons;
ALTER TABLE provisioner_daemons_new RENAME TO provisioner_daemons;
CREATE UNIQUE INDEX provisioner_daemons_name ON provisioner_daemons (organization_id, lower(name));
CREATE INDEX provisioner_daemons_seen ON provisioner_daemons (organization_id, last_seen_at);

CREATE TABLE provisioner_jobs_new (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    initiator_id    TEXT NOT NULL REFERENCES users (id),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    started_at      TEXT NULL,
    completed_at    TEXT NULL,
    canceled_at     TEXT NULL,
    error           TEXT NULL,
    error_code      TEXT NULL
        CONSTRAINT provisioner_jobs_error_code_known CHECK (error_code IN ('REQUIRED_TEMPLATE_VARIABLES', 'INSUFFICIENT_QUOTA')),
    -- Derived by the domain's status rule and written with every change of the columns
    -- above, so that filters and the pending index need no rule of their own. `unknown`
    -- exists in Coder's enum only: no job is ever in it.
    status          TEXT NOT NULL CONSTRAINT provisioner_jobs_status_known
        CHECK (status IN ('pending', 'running', 'succeeded', 'canceling', 'canceled', 'failed')),
    job_type        TEXT NOT NULL CONSTRAINT provisioner_jobs_job_type_known
        CHECK (job_type IN ('template_version_import', 'workspace_build', 'template_version_dry_run')),
    provisioner     TEXT NOT NULL CONSTRAINT provisioner_jobs_provisioner_known CHECK (provisioner IN ('echo', 'terraform')),
    file_id         TEXT NULL,
    tag_set_id      TEXT NOT NULL REFERENCES provisioner_tag_sets (id),
    input           TEXT NOT NULL
        CONSTRAINT provisioner_jobs_input_object CHECK (json_valid(input) AND json_type(input) = 'object'),
    metadata        TEXT NOT NULL
        CONSTRAINT provisioner_jobs_metadata_object CHECK (json_valid(metadata) AND json_type(metadata) = 'object'),
    -- No foreign key: a job outlives the daemon that ran it.
    worker_id       TEXT NULL,
    logs_length     INTEGER NOT NULL DEFAULT 0 CONSTRAINT provisioner_jobs_logs_length_counted CHECK (logs_length >= 0),
    logs_overflowed INTEGER NOT NULL DEFAULT 0
        CONSTRAINT provisioner_jobs_logs_overflowed_bool CHECK (logs_overflowed IN (0, 1))
) STRICT;
INSERT INTO provisioner_jobs_new (id, organization_id, initiator_id, created_at, updated_at, started_at, completed_at,
    canceled_at, error, error_code, status, job_type, provisioner, file_id, tag_set_id, input, metadata, worker_id,
    logs_length, logs_overflowed)
SELECT id, organization_id, initiator_id, created_at, updated_at, started_at, completed_at, canceled_at, error,
    error_code, status, job_type, provisioner, file_id,
    lower(substr(tag_set_id, 1, 8) || '-' || substr(tag_set_id, 9, 4) || '-' || substr(tag_set_id, 13, 4) || '-'
        || substr(tag_set_id, 17, 4) || '-' || substr(tag_set_id, 21, 12)),
    input, metadata, worker_id, logs_length, logs_overflowed
FROM provisioner_jobs;
DROP TABLE provisioner_jobs;
ALTER TABLE provisioner_jobs_new RENAME TO provisioner_jobs;
-- The list: an organization's jobs, newest first (also by initiator, for members), read
-- backwards so that new jobs land at the index's end.
CREATE INDEX provisioner_jobs_org_created ON provisioner_jobs (organization_id, created_at, id);
CREATE INDEX provisioner_jobs_org_initiator ON provisioner_jobs (organization_id, initiator_id, created_at, id);
-- The queue and status filters: an organization's jobs in one status, oldest first.
CREATE INDEX provisioner_jobs_org_status ON provisioner_jobs (organization_id, status, created_at, id);
-- The reaper: active jobs (only) by their last update. Queries name the same statuses
-- literally, so that the planner can match them to this predicate.
CREATE INDEX provisioner_jobs_active_updated ON provisioner_jobs (updated_at)
    WHERE status IN ('pending', 'running', 'canceling');
-- A daemon's current and previous job.
CREATE INDEX provisioner_jobs_worker ON provisioner_jobs (worker_id, completed_at);

CREATE TABLE provisioner_job_logs_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT NOT NULL REFERENCES provisioner_jobs (id),
    created_at TEXT NOT NULL,
    source     TEXT NOT NULL CONSTRAINT provisioner_job_logs_source_known CHECK (source IN ('provisioner_daemon', 'provisioner')),
    level      TEXT NOT NULL
        CONSTRAINT provisioner_job_logs_level_known CHECK (level IN ('trace', 'debug', 'info', 'warn', 'error')),
    stage      TEXT NOT NULL,
    output     TEXT NOT NULL
) STRICT;
INSERT INTO provisioner_job_logs_new (id, job_id, created_at, source, level, stage, output)
SELECT id, job_id, created_at, source, level, stage, output FROM provisioner_job_logs;
-- Log ids never go back, even past lines that were removed.
UPDATE sqlite_sequence
SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'provisioner_job_logs'), 0))
WHERE name = 'provisioner_job_logs_new';
DROP TABLE provisioner_job_logs;
ALTER TABLE provisioner_job_logs_new RENAME TO provisioner_job_logs;
CREATE INDEX provisioner_job_logs_job ON provisioner_job_logs (job_id, id);

-- Every reference must still hold. The count of those that do not goes into a column that
-- accepts only zero: a broken reference fails the migration, which then changes nothing.
CREATE TEMP TABLE migration_dangling_references (dangling INTEGER NOT NULL CHECK (dangling = 0));
INSERT INTO migration_dangling_references SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE migration_dangling_references;
