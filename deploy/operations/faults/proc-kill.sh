#!/usr/bin/env bash
# proc-kill inject|recover FAULT_ID MAX_DURATION TARGET SIGNAL UNIT
# Sends SIGNAL (`KILL`, `TERM`, `9` ...) to the processes TARGET names: a pid file (an absolute
# path) or an exact process name (`pgrep -x`). Never pid 1. A first injection that finds no
# such process fails; a repeated one (the process is already gone) succeeds. Recovery starts
# the systemd UNIT when one is given; without one a supervisor is expected to restart the
# process, and recovery only says whether it is back.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
NARGS=3
USAGE="TARGET SIGNAL UNIT"

fault_check() {
    [[ $1 == /* || $1 =~ ^[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}$ ]] ||
        die "TARGET must be a pid file or a process name: $1"
    [[ $2 =~ ^([A-Z]{2,8}[0-9]?|[0-9]{1,2})$ ]] && kill -l "$2" >/dev/null 2>&1 ||
        die "SIGNAL must be a signal name or number (KILL, TERM, 9): $2"
    [[ -z $3 || $3 =~ ^[A-Za-z0-9@._:-]{1,128}$ ]] || die "UNIT is not a systemd unit: $3"
}

fault_inject() {
    local pids
    pids=$(target_pids "$1")
    if [[ -z $pids ]]; then
        [[ -f $DIR/killed ]] || die "no process matches $1"
        say "no process matches $1: already killed"
        return
    fi
    # shellcheck disable=SC2086
    kill -s "$2" $pids
    echo $pids >>"$DIR/killed"
    local name=$2
    [[ $name =~ ^[0-9]+$ ]] && name=$(kill -l "$name")
    say "sent SIG${name#SIG} to" $pids
}

fault_recover() {
    if [[ -n $3 ]]; then
        command -v systemctl >/dev/null || die "UNIT $3 given but systemctl is not installed"
        systemctl start -- "$3"
        say "started $3"
    fi
    local pids
    pids=$(target_pids "$1")
    say "processes of $1 now:" ${pids:-none}
}

fault_main "$@"
