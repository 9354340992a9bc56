#!/usr/bin/env bash
# Headless Chromium (Debian's package) and poppler-utils (pdftoppm, pdftotext) for
# reporting's browser and PDF tests and for printing the reports, and promtool (Debian's
# `prometheus` package; its daemon is not started here) to check the alert rules. CI
# machines start fresh, so `make test` runs this first (`make browser-deps`). Idempotent.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -eq 0 ]; then
    echo "chromium, poppler-utils and promtool are installed"
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2068
$sudo apt-get install -y -qq --no-install-recommends $(printf '%s\n' ${need[@]} | sort -u) fonts-dejavu-core
chromium --version
# sed reads to the end: `head -1` closed the pipe early and pdftoppm's SIGPIPE failed the
# script (exit 141, pipefail) on a fresh machine, after everything was installed
pdftoppm -v 2>&1 | sed -n 1p
