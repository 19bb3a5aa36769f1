ALTER TABLE audit_events DROP COLUMN provider;
DROP TABLE external_identities;
DELETE FROM users WHERE email IS NULL;
ALTER TABLE users ALTER COLUMN email SET NOT NULL;
