#!/usr/bin/env bash
# pg-fence DATA_DIR: fences a PostgreSQL primary by stopping it (fast shutdown: open sessions
# are ended, nothing more is written there), so that clients cannot write to two primaries
# once its standby is promoted. Idempotent: a stopped server is already fenced.
# Undo: pg-unfence DATA_DIR.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
dir=$(data_dir "${1:-}")
if ! running "$dir"; then
    echo "already fenced (stopped): $dir"
    exit 0
fi
pg_ctl_for "$dir" stop -m fast -w -t 60
echo "fenced (stopped): $dir"
