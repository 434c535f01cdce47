-- The schema in PostgreSQL's own terms, converting the rows already stored:
--   * ids are uuid, times timestamptz (every stored time was a UTC instant without a zone),
--     job documents and tag sets jsonb;
--   * every closed set (statuses, types, levels, sources, login types, role names) is
--     checked, so a write outside it fails here too;
--   * site roles, organization roles and a daemon's provisioner types become rows of their
--     own instead of comma-separated text;
--   * the time-ordered job indexes are ascending (read backwards for newest-first lists):
--     history is appended at their right edge instead of splitting pages at their left; the
--     reaper's index holds the active jobs only.
-- The SQLite migration of the same name reaches the same shape in SQLite's terms.

-- Foreign keys join columns whose types change together: drop them, convert, add them back.
ALTER TABLE organization_members
    DROP CONSTRAINT organization_members_organization_id_fkey,
    DROP CONSTRAINT organization_members_user_id_fkey;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_user_id_fkey;
ALTER TABLE provisioner_keys
    DROP CONSTRAINT provisioner_keys_organization_id_fkey,
    DROP CONSTRAINT provisioner_keys_tag_set_id_fkey;
ALTER TABLE provisioner_daemons
    DROP CONSTRAINT provisioner_daemons_organization_id_fkey,
    DROP CONSTRAINT provisioner_daemons_key_id_fkey,
    DROP CONSTRAINT provisioner_daemons_tag_set_id_fkey;
ALTER TABLE provisioner_jobs
    DROP CONSTRAINT provisioner_jobs_organization_id_fkey,
    DROP CONSTRAINT provisioner_jobs_initiator_id_fkey,
    DROP CONSTRAINT provisioner_jobs_tag_set_id_fkey;
ALTER TABLE provisioner_job_logs DROP CONSTRAINT provisioner_job_logs_job_id_fkey;

ALTER TABLE organizations
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN deleted_at TYPE timestamptz USING deleted_at AT TIME ZONE 'UTC';

ALTER TABLE users
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN last_seen_at TYPE timestamptz USING last_seen_at AT TIME ZONE 'UTC',
    ALTER COLUMN deleted_at TYPE timestamptz USING deleted_at AT TIME ZONE 'UTC',
    ADD CONSTRAINT users_status_known CHECK (status IN ('active', 'dormant', 'suspended'));

-- Explicit site roles; every user is implicitly a `member`, which is never stored.
CREATE TABLE user_site_roles (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    text NOT NULL CONSTRAINT user_site_roles_role_known CHECK (role IN ('owner')),
    PRIMARY KEY (user_id, role)
);
INSERT INTO user_site_roles (user_id, role)
SELECT DISTINCT users.id, listed.role
FROM users CROSS JOIN LATERAL unnest(string_to_array(users.site_roles, ',')) AS listed (role)
WHERE listed.role <> '';
ALTER TABLE users DROP COLUMN site_roles;

ALTER TABLE organization_members
    ALTER COLUMN organization_id TYPE uuid USING organization_id::uuid,
    ALTER COLUMN user_id TYPE uuid USING user_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at AT TIME ZONE 'UTC',
    ADD CONSTRAINT organization_members_organization_id_fkey
        FOREIGN KEY (organization_id) REFERENCES organizations (id),
    ADD CONSTRAINT organization_members_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);

-- Explicit organization roles; every member is implicitly an `organization-member`.
CREATE TABLE organization_member_roles (
    organization_id uuid NOT NULL,
    user_id         uuid NOT NULL,
    role            text NOT NULL
        CONSTRAINT organization_member_roles_role_known CHECK (role IN ('organization-admin')),
    PRIMARY KEY (organization_id, user_id, role),
    FOREIGN KEY (organization_id, user_id)
        REFERENCES organization_members (organization_id, user_id) ON DELETE CASCADE
);
-- A user's roles in every organization at once (signing in, authorizing a request).
CREATE INDEX organization_member_roles_user ON organization_member_roles (user_id);
INSERT INTO organization_member_roles (organization_id, user_id, role)
SELECT DISTINCT members.organization_id, members.user_id, listed.role
FROM organization_members AS members
    CROSS JOIN LATERAL unnest(string_to_array(members.roles, ',')) AS listed (role)
WHERE listed.role <> '';
ALTER TABLE organization_members DROP COLUMN roles;

ALTER TABLE api_keys
    ALTER COLUMN user_id TYPE uuid USING user_id::uuid,
    ALTER COLUMN expires_at TYPE timestamptz USING expires_at AT TIME ZONE 'UTC',
    ALTER COLUMN last_used TYPE timestamptz USING last_used AT TIME ZONE 'UTC',
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at AT TIME ZONE 'UTC',
    ADD CONSTRAINT api_keys_login_type_known CHECK (login_type IN ('password', 'token')),
    ADD CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);

-- A tag set's id was 32 hex digits: the same 16 bytes as a uuid.
ALTER TABLE provisioner_tag_sets
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN tags TYPE jsonb USING tags::jsonb,
    ADD CONSTRAINT provisioner_tag_sets_tags_object CHECK (jsonb_typeof(tags) = 'object');

ALTER TABLE provisioner_keys
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN organization_id TYPE uuid USING organization_id::uuid,
    ALTER COLUMN tag_set_id TYPE uuid USING tag_set_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ADD CONSTRAINT provisioner_keys_organization_id_fkey
        FOREIGN KEY (organization_id) REFERENCES organizations (id),
    ADD CONSTRAINT provisioner_keys_tag_set_id_fkey FOREIGN KEY (tag_set_id) REFERENCES provisioner_tag_sets (id);

ALTER TABLE provisioner_daemons
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN organization_id TYPE uuid USING organization_id::uuid,
    ALTER COLUMN key_id TYPE uuid USING key_id::uuid,
    ALTER COLUMN tag_set_id TYPE uuid USING tag_set_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN last_seen_at TYPE timestamptz USING last_seen_at AT TIME ZONE 'UTC',
    ADD CONSTRAINT provisioner_daemons_organization_id_fkey
        FOREIGN KEY (organization_id) REFERENCES organizations (id),
    ADD CONSTRAINT provisioner_daemons_key_id_fkey
        FOREIGN KEY (key_id) REFERENCES provisioner_keys (id) ON DELETE CASCADE,
    ADD CONSTRAINT provisioner_daemons_tag_set_id_fkey
        FOREIGN KEY (tag_set_id) REFERENCES provisioner_tag_sets (id);

-- The provisioner types a daemon offers, one row each.
CREATE TABLE provisioner_daemon_provisioners (
    daemon_id   uuid NOT NULL REFERENCES provisioner_daemons (id) ON DELETE CASCADE,
    provisioner text NOT NULL
        CONSTRAINT provisioner_daemon_provisioners_known CHECK (provisioner IN ('echo', 'terraform')),
    PRIMARY KEY (daemon_id, provisioner)
);
INSERT INTO provisioner_daemon_provisioners (daemon_id, provisioner)
SELECT DISTINCT daemons.id, listed.provisioner
FROM provisioner_daemons AS daemons
    CROSS JOIN LATERAL unnest(string_to_array(daemons.provisioners, ',')) AS listed (provisioner)
WHERE listed.provisioner <> '';
ALTER TABLE provisioner_daemons DROP COLUMN provisioners;

ALTER TABLE provisioner_jobs
    ALTER COLUMN id TYPE uuid USING id::uuid,
    ALTER COLUMN organization_id TYPE uuid USING organization_id::uuid,
    ALTER COLUMN initiator_id TYPE uuid USING initiator_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN started_at TYPE timestamptz USING started_at AT TIME ZONE 'UTC',
    ALTER COLUMN completed_at TYPE timestamptz USING completed_at AT TIME ZONE 'UTC',
    ALTER COLUMN canceled_at TYPE timestamptz USING canceled_at AT TIME ZONE 'UTC',
    ALTER COLUMN file_id TYPE uuid USING file_id::uuid,
    ALTER COLUMN tag_set_id TYPE uuid USING tag_set_id::uuid,
    ALTER COLUMN input TYPE jsonb USING input::jsonb,
    ALTER COLUMN metadata TYPE jsonb USING metadata::jsonb,
    ALTER COLUMN worker_id TYPE uuid USING worker_id::uuid,
    -- `unknown` exists in Coder's enum only: no job is ever in it.
    ADD CONSTRAINT provisioner_jobs_status_known
        CHECK (status IN ('pending', 'running', 'succeeded', 'canceling', 'canceled', 'failed')),
    ADD CONSTRAINT provisioner_jobs_job_type_known
        CHECK (job_type IN ('template_version_import', 'workspace_build', 'template_version_dry_run')),
    ADD CONSTRAINT provisioner_jobs_provisioner_known CHECK (provisioner IN ('echo', 'terraform')),
    ADD CONSTRAINT provisioner_jobs_error_code_known
        CHECK (error_code IN ('REQUIRED_TEMPLATE_VARIABLES', 'INSUFFICIENT_QUOTA')),
    ADD CONSTRAINT provisioner_jobs_input_object CHECK (jsonb_typeof(input) = 'object'),
    ADD CONSTRAINT provisioner_jobs_metadata_object CHECK (jsonb_typeof(metadata) = 'object'),
    ADD CONSTRAINT provisioner_jobs_logs_length_counted CHECK (logs_length >= 0),
    ADD CONSTRAINT provisioner_jobs_organization_id_fkey
        FOREIGN KEY (organization_id) REFERENCES organizations (id),
    ADD CONSTRAINT provisioner_jobs_initiator_id_fkey FOREIGN KEY (initiator_id) REFERENCES users (id),
    ADD CONSTRAINT provisioner_jobs_tag_set_id_fkey FOREIGN KEY (tag_set_id) REFERENCES provisioner_tag_sets (id);

DROP INDEX provisioner_jobs_org_created;
CREATE INDEX provisioner_jobs_org_created ON provisioner_jobs (organization_id, created_at, id);
DROP INDEX provisioner_jobs_org_initiator;
CREATE INDEX provisioner_jobs_org_initiator ON provisioner_jobs (organization_id, initiator_id, created_at, id);
-- The reaper needs active jobs only, by their last update: not the whole history. Queries name
-- the same statuses literally, so that the planner can match them to this predicate.
DROP INDEX provisioner_jobs_status_updated;
CREATE INDEX provisioner_jobs_active_updated ON provisioner_jobs (updated_at)
    WHERE status IN ('pending', 'running', 'canceling');

ALTER TABLE provisioner_job_logs
    ALTER COLUMN job_id TYPE uuid USING job_id::uuid,
    ALTER COLUMN created_at TYPE timestamptz USING created_at AT TIME ZONE 'UTC',
    ADD CONSTRAINT provisioner_job_logs_source_known CHECK (source IN ('provisioner_daemon', 'provisioner')),
    ADD CONSTRAINT provisioner_job_logs_level_known CHECK (level IN ('trace', 'debug', 'info', 'warn', 'error')),
    ADD CONSTRAINT provisioner_job_logs_job_id_fkey FOREIGN KEY (job_id) REFERENCES provisioner_jobs (id);
