#!/bin/bash
# Runs once, on the first start of the postgres container (docker-entrypoint-initdb.d):
# one login role and one database per service, passwords from the generated .env.
set -euo pipefail
for service in allocation housing integration volunteers reporting; do
    var="${service^^}_DB_PASSWORD"
    password="${!var:?$var is not set}"
    psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres \
        -v role="$service" -v pw="$password" <<'SQL'
SET password_encryption = 'scram-sha-256';
CREATE ROLE :"role" LOGIN PASSWORD :'pw';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
