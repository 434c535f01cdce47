-- The jobs a daemon may take, oldest first: only pending ones. Reading them through the index of
-- all an organization's jobs by age steps over every job already taken, which the planner chose
-- whenever its statistics still counted most jobs as pending (right after a burst of new ones);
-- the cost then grew with the organization's history. This index holds the pending ones alone,
-- so the read starts at the oldest waiting job whatever the statistics say.
CREATE INDEX provisioner_jobs_pending ON provisioner_jobs (organization_id, created_at, id)
    WHERE status = 'pending';
