-- The whole schema. Ids are UUID text and times UTC TIMESTAMPs, so that one diesel schema
-- serves SQLite and PostgreSQL alike; the two migration sets differ only in type spellings.

CREATE TABLE organizations (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    icon         TEXT NOT NULL DEFAULT '',
    is_default   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    -- Soft delete: history (jobs) keeps pointing here.
    deleted_at   TIMESTAMP NULL
);
CREATE UNIQUE INDEX organizations_live_name ON organizations (lower(name)) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX organizations_one_default ON organizations (is_default) WHERE is_default = TRUE;

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    username        TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    hashed_password TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active',
    -- Explicit site roles by name, comma-separated (`owner`).
    site_roles      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    last_seen_at    TIMESTAMP NOT NULL,
    -- Soft delete: the jobs a user started keep pointing here; the name and e-mail are free again.
    deleted_at      TIMESTAMP NULL
);
CREATE UNIQUE INDEX users_email ON users (lower(email)) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX users_username ON users (lower(username)) WHERE deleted_at IS NULL;

CREATE TABLE organization_members (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    user_id         TEXT NOT NULL REFERENCES users (id),
    -- Explicit organization roles by name, comma-separated (`organization-admin`).
    roles           TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_members_user ON organization_members (user_id);

CREATE TABLE api_keys (
    id               TEXT PRIMARY KEY,
    hashed_secret    BYTEA NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id),
    login_type       TEXT NOT NULL,
    token_name       TEXT NOT NULL DEFAULT '',
    lifetime_seconds BIGINT NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    last_used        TIMESTAMP NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id);
CREATE UNIQUE INDEX api_keys_token_name ON api_keys (user_id, lower(token_name)) WHERE login_type = 'token';

-- Normalised tag sets, stored once and shared: jobs, daemons and keys point at them, so the
-- queue compares a handful of sets instead of every job's tags.
CREATE TABLE provisioner_tag_sets (
    -- A fingerprint of `tags`, so a set's id is known without a lookup.
    id   TEXT PRIMARY KEY,
    -- Canonical JSON object.
    tags TEXT NOT NULL
);

CREATE TABLE provisioner_keys (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    hashed_secret   BYTEA NOT NULL,
    tag_set_id      TEXT NOT NULL REFERENCES provisioner_tag_sets (id),
    created_at      TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX provisioner_keys_name ON provisioner_keys (organization_id, lower(name));
CREATE UNIQUE INDEX provisioner_keys_secret ON provisioner_keys (hashed_secret);

CREATE TABLE provisioner_daemons (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    key_id          TEXT NOT NULL REFERENCES provisioner_keys (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    version         TEXT NOT NULL DEFAULT '',
    api_version     TEXT NOT NULL DEFAULT '',
    -- Provisioner types offered, comma-separated (`echo,terraform`).
    provisioners    TEXT NOT NULL,
    tag_set_id      TEXT NOT NULL REFERENCES provisioner_tag_sets (id),
    created_at      TIMESTAMP NOT NULL,
    last_seen_at    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX provisioner_daemons_name ON provisioner_daemons (organization_id, lower(name));
CREATE INDEX provisioner_daemons_seen ON provisioner_daemons (organization_id, last_seen_at);

CREATE TABLE provisioner_jobs (
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
    -- Derived by the domain's status rule and written with every change of the columns
    -- above, so that filters and the pending index need no rule of their own.
    status          TEXT NOT NULL,
    job_type        TEXT NOT NULL,
    provisioner     TEXT NOT NULL,
    file_id         TEXT NULL,
    tag_set_id      TEXT NOT NULL REFERENCES provisioner_tag_sets (id),
    input           TEXT NOT NULL,
    metadata        TEXT NOT NULL,
    -- No foreign key: a job outlives the daemon that ran it.
    worker_id       TEXT NULL,
    logs_length     BIGINT NOT NULL DEFAULT 0,
    logs_overflowed BOOLEAN NOT NULL DEFAULT FALSE
);
-- The list: an organization's jobs, newest first (also by initiator, for members).
CREATE INDEX provisioner_jobs_org_created ON provisioner_jobs (organization_id, created_at DESC, id DESC);
CREATE INDEX provisioner_jobs_org_initiator ON provisioner_jobs (organization_id, initiator_id, created_at DESC, id DESC);
-- The queue and status filters: an organization's jobs in one status, oldest first. The
-- pending set is read through this, so its cost is the pending jobs, not the history.
-- (Not a partial index: statuses arrive as bound parameters, which a partial index's
-- predicate cannot be matched against.)
CREATE INDEX provisioner_jobs_org_status ON provisioner_jobs (organization_id, status, created_at, id);
-- The reaper: active jobs by their last update.
CREATE INDEX provisioner_jobs_status_updated ON provisioner_jobs (status, updated_at);
-- A daemon's current and previous job.
CREATE INDEX provisioner_jobs_worker ON provisioner_jobs (worker_id, completed_at);

CREATE TABLE provisioner_job_logs (
    id         BIGSERIAL PRIMARY KEY,
    job_id     TEXT NOT NULL REFERENCES provisioner_jobs (id),
    created_at TIMESTAMP NOT NULL,
    source     TEXT NOT NULL,
    level      TEXT NOT NULL,
    stage      TEXT NOT NULL,
    output     TEXT NOT NULL
);
CREATE INDEX provisioner_job_logs_job ON provisioner_job_logs (job_id, id);
