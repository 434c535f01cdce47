ALTER TABLE provisioner_jobs DROP COLUMN followed;
