-- Whether anyone has followed the job's changes (its log, until it is over). A job ended in
-- one statement tells the other servers only if it is set, since only a follower there needs
-- to hear it. A follower sets it before its first read of the job and nobody clears it, so an
-- end either sees it set or was committed before that read.
ALTER TABLE provisioner_jobs ADD COLUMN followed BOOLEAN NOT NULL DEFAULT FALSE;
