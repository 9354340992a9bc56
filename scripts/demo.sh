#!/usr/bin/env bash
# `make demo`: local Kafka and PostgreSQL, the five services, the scenario, the views.
# With CI=true (or no terminal) it does its whole job, writes demo-output/ and stops every
# process it started; at a terminal it keeps serving until Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
exec scripts/with-infra.sh "$root/.venv/bin/python" -m ankommen_local.demo
