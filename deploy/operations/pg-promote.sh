#!/usr/bin/env bash
# pg-promote DATA_DIR: promotes the PostgreSQL standby of DATA_DIR to a primary and waits
# until it accepts writes. Idempotent: a running server that is no longer a standby (no
# standby.signal) is already promoted. There is no undo: a promoted standby starts a new
# timeline, and going back means rebuilding the old primary from it.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
dir=$(data_dir "${1:-}")
running "$dir" || die "no server is running in $dir: nothing to promote"
if [[ ! -e "$dir/standby.signal" ]]; then
    echo "already a primary: $dir"
    exit 0
fi
pg_ctl_for "$dir" promote -w -t 60
echo "promoted: $dir"
