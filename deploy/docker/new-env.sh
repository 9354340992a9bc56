#!/bin/sh
# Print a .env for docker compose with a fresh random password per database role and the
# key of the events' pseudonyms (keep it: pseudonyms made under another key do not match):
#   umask 077 && deploy/docker/new-env.sh > .env
# .env is git-ignored; never commit it.
set -eu
pw() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
echo "ANKOMMEN_PG_ADMIN_PASSWORD=$(pw)"
for service in ALLOCATION HOUSING INTEGRATION VOLUNTEERS REPORTING; do
    echo "ANKOMMEN_${service}_DB_PASSWORD=$(pw)"
done
echo "ANKOMMEN_PSEUDONYM_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
