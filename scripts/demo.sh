#!/usr/bin/env bash
# `make demo`: local Kafka and PostgreSQL, the five services, the Hannover scenario
# 2010–2016 (docs/scenario.md), the headline figures; in demo-output/ the run's figures,
# reporting's views (CSV, JSON), the interim report and the 13 district reports (HTML, PDF).
# With CI=true (or no terminal) it does its whole job, writes demo-output/ and stops every
# process it started; at a terminal it keeps serving the dashboard until Ctrl-C (the
# services run in sessions of their own: Ctrl-C or SIGTERM reaches the demo, which stops them).
# Arguments go to the demo: scripts/demo.sh --scale 0.2 --from 2015-08-01 --pace 0.5
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
exec scripts/with-infra.sh "$root/.venv/bin/python" -m ankommen_local.demo "$@"
