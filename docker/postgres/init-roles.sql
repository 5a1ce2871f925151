-- Production database roles (README "Production database roles"), run once by the postgres
-- image on an empty data directory. The postgres superuser is for the container only.
--   riskgov_owner  owns the database and its tables: runs `migrate` and `grant_app_role`
--   riskgov_app    the application (web, worker, beat): DML only, owns nothing,
--                  SELECT/INSERT only on the audit trail (granted by `grant_app_role`)
-- Change the passwords (and the DATABASE_URLs in docker-compose.yml) for a real deployment.
CREATE ROLE riskgov_owner LOGIN PASSWORD 'riskgov_owner' NOSUPERUSER NOCREATEROLE;
CREATE ROLE riskgov_app LOGIN PASSWORD 'riskgov_app' NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE DATABASE riskgov OWNER riskgov_owner;
\connect riskgov
ALTER SCHEMA public OWNER TO riskgov_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO riskgov_app;
REVOKE ALL ON DATABASE riskgov FROM PUBLIC;
GRANT CONNECT ON DATABASE riskgov TO riskgov_app;
