-- One database and one role per service (dev credentials; see kustomization.yaml).
CREATE ROLE auth_service LOGIN PASSWORD 'dev-only-auth';
CREATE DATABASE auth OWNER auth_service;
CREATE ROLE workspace_service LOGIN PASSWORD 'dev-only-workspace';
CREATE DATABASE workspace OWNER workspace_service;
