#!/usr/bin/env bash
# proc-pause inject|recover FAULT_ID MAX_DURATION TARGET
# Freezes the processes TARGET names (a pid file, an absolute path, or an exact process name)
# with SIGSTOP; recovery sends SIGCONT to every process it froze (kept in its state) and to
# those TARGET names now. Never pid 1. A frozen server keeps its sockets: connections are
# accepted by the kernel and then hang, as with a stalled process.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
NARGS=1
USAGE="TARGET"

fault_check() {
    [[ $1 == /* || $1 =~ ^[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}$ ]] ||
        die "TARGET must be a pid file or a process name: $1"
}

fault_inject() {
    local pids
    pids=$(target_pids "$1")
    if [[ -z $pids ]]; then
        [[ -f $DIR/paused ]] || die "no process matches $1"
        say "no process matches $1 now; paused before:" $(cat "$DIR/paused")
        return
    fi
    # Recorded first: a recovery must find every process this may have stopped.
    echo $pids >>"$DIR/paused"
    # shellcheck disable=SC2086
    kill -STOP $pids
    say "paused (SIGSTOP):" $pids
}

fault_recover() {
    local pids pid resumed=""
    pids="$(cat "$DIR/paused" 2>/dev/null || true) $(target_pids "$1")"
    for pid in $(echo $pids | tr ' ' '\n' | sort -un); do
        if kill -CONT "$pid" 2>/dev/null; then
            resumed="$resumed $pid"
        fi
    done
    say "resumed (SIGCONT):${resumed:- nothing to resume}"
}

fault_main "$@"
