-- Whether anyone has followed the job's changes (its log, until it is over). Only
-- PostgreSQL's servers read it, to tell each other of a job's end; kept here as well so that
-- both backends hold the same rows.
ALTER TABLE provisioner_jobs ADD COLUMN followed INTEGER NOT NULL DEFAULT 0
    CONSTRAINT provisioner_jobs_followed_bool CHECK (followed IN (0, 1));
