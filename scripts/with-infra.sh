#!/usr/bin/env bash
# Run a command with the local Kafka and PostgreSQL up:
#   scripts/with-infra.sh uv run pytest
# Starts them with `ankommen-local up`; stops them afterwards only if they were not
# already running before (a developer's servers stay up). Exits with the command's code.
set -euo pipefail

if (($# == 0)); then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -x "$root/.venv/bin/ankommen-local" ]]; then
    cli=("$root/.venv/bin/ankommen-local")
else
    cli=(uv run --frozen --project "$root" ankommen-local)
fi

started_here=0
if "${cli[@]}" status --check >/dev/null 2>&1; then
    echo "with-infra: servers already running; leaving them running afterwards" >&2
else
    # Also when only one of the two ran: `down` then stops both.
    started_here=1
fi

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if ((started_here)); then
        "${cli[@]}" down || echo "with-infra: stopping the servers failed" >&2
    fi
    exit "$rc"
}
# Set before `up`, so a start that fails half way is cleaned up too.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"${cli[@]}" up

set +e
"$@"
rc=$?
set -e
exit "$rc"
