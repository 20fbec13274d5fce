#!/usr/bin/env bash
# pg-unfence DATA_DIR [LOG_FILE]: starts the PostgreSQL server of DATA_DIR again (the undo of
# pg-fence), its output going to LOG_FILE (default DATA_DIR.log, beside the directory).
# Idempotent: a running server is left alone. Use it only while no standby has been promoted
# in its place: after a promote the old primary must be rebuilt as a standby (pg_rewind or
# pg_basebackup), not started.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
dir=$(data_dir "${1:-}")
log=${2:-${dir%/}.log}
if running "$dir"; then
    echo "already running: $dir"
    exit 0
fi
pg_ctl_for "$dir" start -w -t 60 -l "$log"
echo "unfenced (started): $dir"
