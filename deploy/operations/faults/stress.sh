#!/usr/bin/env bash
# stress inject|recover FAULT_ID MAX_DURATION cpu|memory WORKERS AMOUNT
# CPU burn (`cpu`: WORKERS busy loops, 0 = one per CPU, each at AMOUNT percent load) or a
# memory hog (`memory`: WORKERS processes holding AMOUNT bytes each, `256M`, `1G`, or a
# percentage of the memory `50%`) with stress-ng, started detached in a process group of its
# own. stress-ng also gets --timeout MAX_DURATION: it stops by itself even without the guard.
# Recovery ends that whole group and waits until no process of it is left.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
NARGS=3
USAGE="cpu|memory WORKERS AMOUNT"

# The pid of the stress-ng group when some process of it still runs.
running_group() {
    local pid
    pid=$(cat "$DIR/stress.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    # Live processes, one of them stress-ng's (not a later group that reuses the number).
    [[ -n $(group_pids "$pid") ]] && pgrep -g "$pid" stress-ng >/dev/null || return 1
    echo "$pid"
}

fault_check() {
    [[ $1 =~ ^(cpu|memory)$ ]] || die "the kind must be cpu or memory: $1"
    [[ $2 =~ ^[0-9]{1,4}$ ]] || die "WORKERS must be a whole number: $2"
    if [[ $1 == cpu ]]; then
        [[ $3 =~ ^[0-9]{1,3}$ ]] && (($3 >= 1 && $3 <= 100)) ||
            die "AMOUNT of a cpu burn is its load, 1 to 100 (percent): $3"
    else
        [[ $3 =~ ^([0-9]{1,15}[KMGT]?|[0-9]{1,2}%)$ ]] ||
            die "AMOUNT of a memory hog is bytes (256M, 1G) or a percentage (50%): $3"
    fi
    command -v stress-ng >/dev/null || die "stress-ng is not installed (apt-get install stress-ng)"
}

fault_inject() {
    local pid options
    if pid=$(running_group); then
        say "stress-ng already runs (process group $pid)"
        return
    fi
    if [[ $1 == cpu ]]; then
        options=(--cpu "$2" --cpu-load "$3")
    else
        options=(--vm "$(($2 > 0 ? $2 : 1))" --vm-bytes "$3" --vm-keep)
    fi
    setsid stress-ng "${options[@]}" --timeout "$(((MAX_MS + 999) / 1000))s" \
        </dev/null >>"$LOG" 2>&1 9>&- &
    pid=$!
    echo "$pid" >"$DIR/stress.pid"
    sleep 0.3
    kill -0 "$pid" 2>/dev/null || die "stress-ng ended at once: $(tail -n 3 "$LOG")"
    say "stress-ng $1 started (process group $pid): ${options[*]}"
}

fault_recover() {
    local pid i
    if ! pid=$(running_group); then
        say "no stress-ng of $FAULT_ID runs"
        return
    fi
    kill -TERM -- "-$pid" 2>/dev/null || true
    for i in $(seq 100); do
        [[ -n $(group_pids "$pid") ]] || break
        ((i == 50)) && kill -KILL -- "-$pid" 2>/dev/null
        sleep 0.1
    done
    [[ -z $(group_pids "$pid") ]] || die "processes of group $pid are still there"
    say "stress-ng stopped (process group $pid): none of its processes is left"
}

fault_main "$@"
