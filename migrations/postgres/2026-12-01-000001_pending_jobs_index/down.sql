DROP INDEX provisioner_jobs_pending;
