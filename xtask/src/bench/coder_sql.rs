//! `cargo xtask bench coder-sql`: Coder's own query for the organization job list, on the
//! same shape of data, in Coder's schema (the relevant tables, types, indexes and
//! `provisioner_tagset_contains`), timed in PostgreSQL alone — no HTTP, no authentication —
//! for a side-by-side with `bench jobs`.

use std::time::Instant;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::{JobsArgs, summary};

const SCHEMA: &str = r#"
CREATE DOMAIN tagset AS jsonb;
CREATE TYPE provisioner_job_status AS ENUM ('pending', 'running', 'succeeded', 'canceling', 'canceled', 'failed', 'unknown');
CREATE TYPE provisioner_type AS ENUM ('echo', 'terraform');
CREATE TYPE provisioner_job_type AS ENUM ('template_version_import', 'workspace_build', 'template_version_dry_run');
CREATE OR REPLACE FUNCTION provisioner_tagset_contains(provisioner_tags tagset, job_tags tagset)
RETURNS boolean AS $$
BEGIN
	RETURN CASE
		WHEN job_tags::jsonb = '{"scope": "organization", "owner": ""}'::jsonb THEN job_tags::jsonb = provisioner_tags::jsonb
		ELSE job_tags::jsonb <@ provisioner_tags::jsonb
	END;
END;
$$ LANGUAGE plpgsql;
CREATE TABLE provisioner_jobs (
    id uuid PRIMARY KEY, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    started_at timestamptz, canceled_at timestamptz, completed_at timestamptz, error text,
    organization_id uuid NOT NULL, initiator_id uuid NOT NULL, provisioner provisioner_type NOT NULL,
    storage_method text NOT NULL DEFAULT 'file', type provisioner_job_type NOT NULL, input jsonb NOT NULL,
    worker_id uuid, file_id uuid NOT NULL, tags jsonb NOT NULL DEFAULT '{"scope": "organization"}',
    error_code text, trace_metadata jsonb, logs_length integer NOT NULL DEFAULT 0, logs_overflowed boolean NOT NULL DEFAULT false,
    job_status provisioner_job_status NOT NULL GENERATED ALWAYS AS (
        CASE
            WHEN completed_at IS NOT NULL THEN
                CASE
                    WHEN error != '' THEN 'failed'::provisioner_job_status
                    WHEN canceled_at IS NOT NULL THEN 'canceled'::provisioner_job_status
                    ELSE 'succeeded'::provisioner_job_status
                END
            ELSE
                CASE
                    WHEN error != '' THEN 'failed'::provisioner_job_status
                    WHEN canceled_at IS NOT NULL THEN 'canceling'::provisioner_job_status
                    WHEN started_at IS NULL THEN 'pending'::provisioner_job_status
                    ELSE 'running'::provisioner_job_status
                END
        END
    ) STORED
);
CREATE INDEX idx_provisioner_jobs_status ON provisioner_jobs USING btree (job_status);
CREATE INDEX provisioner_jobs_started_at_idx ON provisioner_jobs USING btree (started_at) WHERE (started_at IS NULL);
CREATE INDEX provisioner_jobs_worker_id_organization_id_completed_at_idx ON provisioner_jobs (worker_id, organization_id, completed_at DESC NULLS FIRST);
CREATE INDEX provisioner_jobs_organization_created ON provisioner_jobs (organization_id, created_at DESC);
CREATE TABLE provisioner_daemons (
    id uuid PRIMARY KEY, created_at timestamptz NOT NULL, name varchar(64) NOT NULL, provisioners provisioner_type[] NOT NULL,
    tags jsonb NOT NULL, last_seen_at timestamptz, version text NOT NULL DEFAULT '', api_version text NOT NULL DEFAULT '',
    organization_id uuid NOT NULL, key_id uuid NOT NULL
);
CREATE TABLE workspace_builds (id uuid PRIMARY KEY, workspace_id uuid NOT NULL, template_version_id uuid NOT NULL);
CREATE TABLE workspaces (id uuid PRIMARY KEY, organization_id uuid NOT NULL, name text NOT NULL);
CREATE TABLE template_versions (id uuid PRIMARY KEY, organization_id uuid NOT NULL, name text NOT NULL, template_id uuid);
CREATE TABLE templates (id uuid PRIMARY KEY, organization_id uuid NOT NULL, name text NOT NULL, display_name text NOT NULL, icon text NOT NULL);
"#;

/// `GetProvisionerJobsByOrganizationAndStatusWithQueuePositionAndProvisioner` from
/// coderd/database/queries/provisionerjobs.sql, with sqlc's parameters bound as the default
/// page asks: no ids, statuses, tags or initiator; limit 50.
const CODERS_QUERY: &str = r#"
WITH pending_jobs AS (
    SELECT id, initiator_id, created_at FROM provisioner_jobs
    WHERE started_at IS NULL AND canceled_at IS NULL AND completed_at IS NULL AND error IS NULL
),
queue_position AS (
    SELECT id, ROW_NUMBER() OVER (ORDER BY initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid ASC, created_at ASC) AS queue_position
    FROM pending_jobs
),
queue_size AS (SELECT COUNT(*) AS count FROM pending_jobs)
SELECT
    pj.*,
    COALESCE(qp.queue_position, 0) AS queue_position,
    COALESCE(qs.count, 0) AS queue_size,
    (
        SELECT array_agg(pd.id ORDER BY pd.created_at ASC)::uuid[]
        FROM provisioner_daemons pd
        WHERE pj.started_at IS NULL AND pj.organization_id = pd.organization_id
          AND pj.provisioner = ANY(pd.provisioners) AND provisioner_tagset_contains(pd.tags, pj.tags)
    ) AS available_workers,
    COALESCE(tv.name, '') AS template_version_name,
    t.id AS template_id,
    COALESCE(t.name, '') AS template_name,
    COALESCE(t.display_name, '') AS template_display_name,
    COALESCE(t.icon, '') AS template_icon,
    w.id AS workspace_id,
    COALESCE(w.name, '') AS workspace_name,
    COALESCE(pd.name, '') AS worker_name
FROM provisioner_jobs pj
LEFT JOIN queue_position qp ON qp.id = pj.id
LEFT JOIN queue_size qs ON TRUE
LEFT JOIN workspace_builds wb ON wb.id = CASE WHEN pj.input ? 'workspace_build_id' THEN (pj.input->>'workspace_build_id')::uuid END
LEFT JOIN workspaces w ON (w.id = wb.workspace_id AND w.organization_id = pj.organization_id)
LEFT JOIN template_versions tv ON (
    tv.id = CASE WHEN pj.input ? 'template_version_id' THEN (pj.input->>'template_version_id')::uuid ELSE wb.template_version_id END
    AND tv.organization_id = pj.organization_id
)
LEFT JOIN templates t ON (t.id = tv.template_id AND t.organization_id = pj.organization_id)
LEFT JOIN provisioner_daemons pd ON pd.id = pj.worker_id
WHERE
    pj.organization_id = $1::text::uuid
    AND (COALESCE(array_length('{}'::uuid[], 1), 0) = 0 OR pj.id = ANY('{}'::uuid[]))
    AND (COALESCE(array_length('{}'::provisioner_job_status[], 1), 0) = 0 OR pj.job_status = ANY('{}'::provisioner_job_status[]))
    AND ('null'::tagset = 'null'::tagset OR provisioner_tagset_contains(pj.tags::tagset, 'null'::tagset))
    AND ('00000000-0000-0000-0000-000000000000'::uuid = '00000000-0000-0000-0000-000000000000'::uuid OR pj.initiator_id = '00000000-0000-0000-0000-000000000000'::uuid)
GROUP BY pj.id, qp.queue_position, qs.count, tv.name, t.id, t.name, t.display_name, t.icon, w.id, w.name, pd.name
ORDER BY pj.created_at DESC
LIMIT 50
"#;

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

pub fn run(args: &JobsArgs) -> anyhow::Result<()> {
    let db = storage::testing::TestDatabase::postgres_at(&args.common.postgres_url);
    let mut conn = PgConnection::establish(db.url()).context("cannot reach PostgreSQL")?;
    conn.batch_execute(SCHEMA)?;
    let organization = uuid::Uuid::new_v4();
    let history = args.jobs.saturating_sub(args.pending);
    conn.batch_execute(&format!(
        r#"
        INSERT INTO provisioner_daemons (id, created_at, name, provisioners, tags, last_seen_at, organization_id, key_id)
        SELECT gen_random_uuid(), now() - interval '1 day', 'daemon-' || i, '{{terraform}}',
               jsonb_build_object('pool', chr(97 + i % 4), 'scope', 'organization', 'owner', ''), now(), '{organization}', gen_random_uuid()
        FROM generate_series(0, {daemons} - 1) i;
        INSERT INTO provisioner_jobs (id, created_at, updated_at, started_at, completed_at, canceled_at, error, organization_id,
                                      initiator_id, provisioner, type, input, file_id, tags, worker_id)
        SELECT gen_random_uuid(), now() - interval '30 days' + i * (interval '30 days' / {history}), now(),
               now() - interval '30 days' + i * (interval '30 days' / {history}) + interval '5 seconds',
               now() - interval '30 days' + i * (interval '30 days' / {history}) + interval '65 seconds',
               CASE WHEN i % 20 = 1 THEN now() END, CASE WHEN i % 20 = 0 THEN 'boom' END,
               '{organization}', gen_random_uuid(), 'terraform', 'template_version_import', '{{}}', gen_random_uuid(),
               jsonb_build_object('pool', chr(97 + i % 4), 'scope', 'organization', 'owner', ''), NULL
        FROM generate_series(0, {history} - 1) i;
        INSERT INTO provisioner_jobs (id, created_at, updated_at, organization_id, initiator_id, provisioner, type, input, file_id, tags)
        SELECT gen_random_uuid(), now() - interval '20 minutes' + i * (interval '20 minutes' / {pending}), now(), '{organization}',
               gen_random_uuid(), 'terraform', 'template_version_import', '{{}}', gen_random_uuid(),
               jsonb_build_object('pool', chr(97 + i % 4), 'scope', 'organization', 'owner', '')
        FROM generate_series(0, {pending} - 1) i;
        ANALYZE;
        "#,
        daemons = args.daemons.max(1),
        history = history.max(1),
        pending = args.pending.max(1),
    ))?;
    let total: Vec<Counted> = diesel::sql_query("SELECT count(*) AS count FROM provisioner_jobs").load(&mut conn)?;
    let time = |conn: &mut PgConnection| -> anyhow::Result<std::time::Duration> {
        let started = Instant::now();
        diesel::sql_query(CODERS_QUERY).bind::<Text, _>(organization.to_string()).execute(conn)?;
        Ok(started.elapsed())
    };
    for _ in 0..3 {
        time(&mut conn)?;
    }
    let iterations = (args.iterations / 10).max(5);
    let samples = (0..iterations).map(|_| time(&mut conn)).collect::<anyhow::Result<Vec<_>>>()?;
    let (median, p95) = summary(samples);
    println!(
        "\nCoder's query, PostgreSQL only (no HTTP): {} jobs ({} pending), {} daemons; default page (50): median {median:.2} ms, p95 {p95:.2} ms over {iterations} runs",
        total.first().map_or(0, |c| c.count),
        args.pending,
        args.daemons
    );
    Ok(())
}
