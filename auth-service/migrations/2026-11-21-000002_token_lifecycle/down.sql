DROP TABLE service_accounts;
DROP TABLE login_throttle;
DROP TABLE audit_events;
DROP INDEX sessions_revoked_at_idx;
DROP TABLE refresh_tokens;
