-- Back to the text columns of 2026-11-28-000001_init, keeping every row: uuids and instants
-- become their text and UTC forms again, role and provisioner rows become comma-separated
-- lists, and the checks go.

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

ALTER TABLE users ADD COLUMN site_roles text NOT NULL DEFAULT '';
UPDATE users SET site_roles = listed.roles
FROM (SELECT user_id, string_agg(role, ',' ORDER BY role) AS roles FROM user_site_roles GROUP BY user_id) AS listed
WHERE listed.user_id = users.id;
DROP TABLE user_site_roles;

ALTER TABLE organization_members ADD COLUMN roles text NOT NULL DEFAULT '';
UPDATE organization_members SET roles = listed.roles
FROM (
    SELECT organization_id, user_id, string_agg(role, ',' ORDER BY role) AS roles
    FROM organization_member_roles GROUP BY organization_id, user_id
) AS listed
WHERE listed.organization_id = organization_members.organization_id
    AND listed.user_id = organization_members.user_id;
DROP TABLE organization_member_roles;

ALTER TABLE provisioner_daemons ADD COLUMN provisioners text NOT NULL DEFAULT '';
UPDATE provisioner_daemons SET provisioners = listed.provisioners
FROM (
    SELECT daemon_id, string_agg(provisioner, ',' ORDER BY provisioner) AS provisioners
    FROM provisioner_daemon_provisioners GROUP BY daemon_id
) AS listed
WHERE listed.daemon_id = provisioner_daemons.id;
ALTER TABLE provisioner_daemons ALTER COLUMN provisioners DROP DEFAULT;
DROP TABLE provisioner_daemon_provisioners;

ALTER TABLE organizations
    ALTER COLUMN id TYPE text USING id::text,
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN deleted_at TYPE timestamp USING deleted_at AT TIME ZONE 'UTC';

ALTER TABLE users
    DROP CONSTRAINT users_status_known,
    ALTER COLUMN id TYPE text USING id::text,
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN last_seen_at TYPE timestamp USING last_seen_at AT TIME ZONE 'UTC',
    ALTER COLUMN deleted_at TYPE timestamp USING deleted_at AT TIME ZONE 'UTC';

ALTER TABLE organization_members
    ALTER COLUMN organization_id TYPE text USING organization_id::text,
    ALTER COLUMN user_id TYPE text USING user_id::text,
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC',
    ADD CONSTRAINT organization_members_organization_id_fkey
        FOREIGN KEY (organization_id) REFERENCES organizations (id),
    ADD CONSTRAINT organization_members_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);

ALTER TABLE api_keys
    DROP CONSTRAINT api_keys_login_type_known,
    ALTER COLUMN user_id TYPE text USING user_id::text,
    ALTER COLUMN expires_at TYPE timestamp USING expires_at AT TIME ZONE 'UTC',
    ALTER COLUMN last_used TYPE timestamp USING last_used AT TIME ZONE 'UTC',
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC',
    ADD CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id);

-- Tag set ids go back to 32 hex digits; the tags to compact JSON text.
ALTER TABLE provisioner_tag_sets
    DROP CONSTRAINT provisioner_tag_sets_tags_object,
    ALTER COLUMN id TYPE text USING replace(id::text, '-', ''),
    ALTER COLUMN tags TYPE text USING tags::text;

ALTER TABLE provisioner_keys
    ALTER COLUMN id TYPE text USING id::text,
    ALTER COLUMN organization_id TYPE text USING organization_id::text,
    ALTER COLUMN tag_set_id TYPE text USING replace(tag_set_id::text, '-', ''),
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ADD CONSTRAINT provisioner_keys_organization_id_fkey
        FOREIGN KEY (organization_id) REFERENCES organizations (id),
    ADD CONSTRAINT provisioner_keys_tag_set_id_fkey FOREIGN KEY (tag_set_id) REFERENCES provisioner_tag_sets (id);

ALTER TABLE provisioner_daemons
    ALTER COLUMN id TYPE text USING id::text,
    ALTER COLUMN organization_id TYPE text USING organization_id::text,
    ALTER COLUMN key_id TYPE text USING key_id::text,
    ALTER COLUMN tag_set_id TYPE text USING replace(tag_set_id::text, '-', ''),
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN last_seen_at TYPE timestamp USING last_seen_at AT TIME ZONE 'UTC',
    ADD CONSTRAINT provisioner_daemons_organization_id_fkey
        FOREIGN KEY (organization_id) REFERENCES organizations (id),
    ADD CONSTRAINT provisioner_daemons_key_id_fkey
        FOREIGN KEY (key_id) REFERENCES provisioner_keys (id) ON DELETE CASCADE,
    ADD CONSTRAINT provisioner_daemons_tag_set_id_fkey
        FOREIGN KEY (tag_set_id) REFERENCES provisioner_tag_sets (id);

DROP INDEX provisioner_jobs_org_created;
DROP INDEX provisioner_jobs_org_initiator;
DROP INDEX provisioner_jobs_active_updated;
ALTER TABLE provisioner_jobs
    DROP CONSTRAINT provisioner_jobs_status_known,
    DROP CONSTRAINT provisioner_jobs_job_type_known,
    DROP CONSTRAINT provisioner_jobs_provisioner_known,
    DROP CONSTRAINT provisioner_jobs_error_code_known,
    DROP CONSTRAINT provisioner_jobs_input_object,
    DROP CONSTRAINT provisioner_jobs_metadata_object,
    DROP CONSTRAINT provisioner_jobs_logs_length_counted,
    ALTER COLUMN id TYPE text USING id::text,
    ALTER COLUMN organization_id TYPE text USING organization_id::text,
    ALTER COLUMN initiator_id TYPE text USING initiator_id::text,
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ALTER COLUMN updated_at TYPE timestamp USING updated_at AT TIME ZONE 'UTC',
    ALTER COLUMN started_at TYPE timestamp USING started_at AT TIME ZONE 'UTC',
    ALTER COLUMN completed_at TYPE timestamp USING completed_at AT TIME ZONE 'UTC',
    ALTER COLUMN canceled_at TYPE timestamp USING canceled_at AT TIME ZONE 'UTC',
    ALTER COLUMN file_id TYPE text USING file_id::text,
    ALTER COLUMN tag_set_id TYPE text USING replace(tag_set_id::text, '-', ''),
    ALTER COLUMN input TYPE text USING input::text,
    ALTER COLUMN metadata TYPE text USING metadata::text,
    ALTER COLUMN worker_id TYPE text USING worker_id::text,
    ADD CONSTRAINT provisioner_jobs_organization_id_fkey
        FOREIGN KEY (organization_id) REFERENCES organizations (id),
    ADD CONSTRAINT provisioner_jobs_initiator_id_fkey FOREIGN KEY (initiator_id) REFERENCES users (id),
    ADD CONSTRAINT provisioner_jobs_tag_set_id_fkey FOREIGN KEY (tag_set_id) REFERENCES provisioner_tag_sets (id);
CREATE INDEX provisioner_jobs_org_created ON provisioner_jobs (organization_id, created_at DESC, id DESC);
CREATE INDEX provisioner_jobs_org_initiator ON provisioner_jobs (organization_id, initiator_id, created_at DESC, id DESC);
CREATE INDEX provisioner_jobs_status_updated ON provisioner_jobs (status, updated_at);

ALTER TABLE provisioner_job_logs
    DROP CONSTRAINT provisioner_job_logs_source_known,
    DROP CONSTRAINT provisioner_job_logs_level_known,
    ALTER COLUMN job_id TYPE text USING job_id::text,
    ALTER COLUMN created_at TYPE timestamp USING created_at AT TIME ZONE 'UTC',
    ADD CONSTRAINT provisioner_job_logs_job_id_fkey FOREIGN KEY (job_id) REFERENCES provisioner_jobs (id);
