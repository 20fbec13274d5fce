# Shared by the fault scripts (sourced, not run). Every fault script is called as
#
#     SCRIPT inject|recover FAULT_ID MAX_DURATION ARGS...
#
# and defines NARGS (how many ARGS), USAGE (their names), fault_check (validates ARGS and
# refuses, changing nothing), fault_inject and fault_recover (both idempotent; they read ARGS
# as "$@"), then ends with `fault_main "$@"`. See README.md for the guard this arms.

# acmangkut runs allow-listed commands with PATH=/usr/local/bin:/usr/bin:/bin; tc, nft,
# iptables and setsid's friends live in sbin.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# Where each fault keeps its state (`<id>/`), lock (`<id>.lock`) and log (`<id>.log`). A tmpfs:
# a reboot clears it, as it clears the faults that need it (qdiscs, rules, processes).
STATE_ROOT=/run/has-faults
# The guard recovers at MAX_DURATION + GRACE_SECONDS, leaving the normal recovery its turn.
GRACE_SECONDS=5
# No fault may ask for more than this (seconds): a typo such as 30d does not arm a month.
MAX_DURATION_CAP=86400
# An operator may change the three on a host.
if [[ -r /etc/default/has-faults ]]; then
    # shellcheck disable=SC1091
    . /etc/default/has-faults
fi

SELF=$(readlink -f "$0")
NAME=$(basename "$0" .sh)
FAULT_ID=""
LOG=/dev/null

die() {
    echo "$NAME: $*" >&2
    log "error: $*"
    exit 1
}

usage() {
    die "usage: $NAME inject|recover FAULT_ID MAX_DURATION $USAGE"
}

log() {
    printf '%s %s[%s] %s\n' "$(date -u +%FT%T.%3NZ)" "$NAME" "$$" "$*" >>"$LOG" 2>/dev/null ||
        true
}

# say TEXT: tells the caller (the action's evidence) and the fault's log.
say() {
    echo "$*"
    log "$*"
}

now_ms() {
    date +%s%3N
}

# duration_ms D: `250ms`, `90s`, `1h30m`, `2d` in milliseconds (as acmangkut's durations);
# fails on anything else.
duration_ms() {
    local s=$1 total=0 n
    [[ $s =~ ^([0-9]{1,9}(ms|s|m|h|d))+$ ]] || return 1
    while [[ -n $s ]]; do
        if [[ $s =~ ^([0-9]+)ms(.*)$ ]]; then
            n=$((10#${BASH_REMATCH[1]}))
            s=${BASH_REMATCH[2]}
        elif [[ $s =~ ^([0-9]+)([smhd])(.*)$ ]]; then
            n=$((10#${BASH_REMATCH[1]}))
            case ${BASH_REMATCH[2]} in
                s) n=$((n * 1000)) ;;
                m) n=$((n * 60000)) ;;
                h) n=$((n * 3600000)) ;;
                d) n=$((n * 86400000)) ;;
            esac
            s=${BASH_REMATCH[3]}
        else
            return 1
        fi
        total=$((total + n))
    done
    echo "$total"
}

# seconds_of_ms MS: `S.mmm`, for sleep.
seconds_of_ms() {
    printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
}

# target_pids TARGET: the pids TARGET names, one a line: a pid file (an absolute path; its
# first line) or an exact process name (pgrep -x). Never pid 1, this script, or a zombie (it
# has ended; only its parent's wait is missing).
target_pids() {
    local target=$1 pid found=""
    if [[ $target == /* ]]; then
        if [[ -r $target ]]; then
            read -r found _ <"$target" || true
        fi
        [[ $found =~ ^[0-9]+$ ]] || found=""
    else
        found=$(pgrep -x -- "$target" || true)
    fi
    for pid in $found; do
        if [[ $pid != 1 && $pid != "$$" ]] && ! zombie_or_gone "$pid"; then
            echo "$pid"
        fi
    done
}

# zombie_or_gone PID: PID has ended (a zombie only waits for its parent, or init, to reap it).
zombie_or_gone() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    [[ ${stat##*) } == Z* ]]
}

# group_pids PGID: the processes of group PGID that have not ended.
group_pids() {
    local pid
    for pid in $(pgrep -g "$1" || true); do
        zombie_or_gone "$pid" || echo "$pid"
    done
}

# valid_address A: an IPv4 or IPv6 address, optionally with a /prefix.
valid_address() {
    [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}(/[0-9]{1,2})?$ ||
        ($1 =~ ^[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(/[0-9]{1,3})?$ && $1 == *:*) ]]
}

# The live guard's pid (its cmdline says `guard FAULT_ID`), or fails.
guard_pid() {
    local pid
    pid=$(cat "$DIR/guard.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- " guard $FAULT_ID " || return 1
    echo "$pid"
}

# guard_arm ARGS: starts the guard unless one lives. It is detached: setsid makes it the leader
# of a session and process group of its own, so neither the caller's end (acmangkut kills a
# command's whole process group), nor an ssh session closing (SIGHUP, closed pipes: it
# ignores HUP and writes only to its log), nor the caller's host going away touches it. It
# sleeps until the deadline, then runs this script's recover with the same arguments.
guard_arm() {
    local pid deadline
    if pid=$(guard_pid); then
        deadline=$(cat "$DIR/deadline")
        say "guard already armed (pid $pid): recovers by itself at" \
            "$(date -u -d "@$((deadline / 1000))" +%FT%TZ), unchanged"
        return
    fi
    deadline=$(cat "$DIR/deadline" 2>/dev/null || echo 0)
    # A re-injection (acmangkut retrying) keeps the first deadline while it is ahead.
    if ((deadline <= $(now_ms))); then
        deadline=$(($(now_ms) + MAX_MS + GRACE_SECONDS * 1000))
        echo "$deadline" >"$DIR/deadline"
    fi
    # A background job of a non-interactive shell is not a group leader, so setsid does not
    # fork again: $! is the guard itself.
    setsid "$SELF" guard "$FAULT_ID" "$MAX_DURATION" "$@" </dev/null >/dev/null 2>>"$LOG" 9>&- &
    pid=$!
    echo "$pid" >"$DIR/guard.pid"
    # Until the child has exec'd, its command line is still this script's: a recovery right
    # after this would not know it as the guard and leave it to fire later. Return only once
    # it does.
    local tries=0
    until guard_pid >/dev/null; do
        ((++tries <= 250)) || die "the guard (pid $pid) did not start"
        sleep 0.02
    done
    say "guard armed (pid $pid): recovers by itself at" \
        "$(date -u -d "@$((deadline / 1000))" +%FT%TZ)" \
        "(max duration $MAX_DURATION + grace ${GRACE_SECONDS}s) unless recovered before"
}

# The guard: sleeps until the deadline, then becomes the recovery. A TERM (the normal
# recovery cancelling it, to its whole group) ends it and its sleep.
guard_run() {
    local deadline left
    # Not the first choice of the OOM killer while a memory hog runs.
    echo -1000 >/proc/self/oom_score_adj 2>/dev/null || true
    trap '' HUP
    trap 'log "guard cancelled"; exit 0' TERM INT
    deadline=$(cat "$DIR/deadline" 2>/dev/null) || exit 0
    left=$((deadline - $(now_ms)))
    if ((left > 0)); then
        sleep "$(seconds_of_ms "$left")" &
        wait $!
    fi
    log "guard: max duration $MAX_DURATION + grace ${GRACE_SECONDS}s reached" \
        "($(($(now_ms) - deadline)) ms after the deadline): recovering"
    exec "$SELF" recover "$FAULT_ID" "$MAX_DURATION" "$@"
}

# Ends the guard (unless this is the guard, recovering) and forgets it.
guard_cancel() {
    local pid i
    if pid=$(guard_pid) && [[ $pid != "$$" ]]; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 50); do
            zombie_or_gone "$pid" && break
            sleep 0.05
        done
        say "guard (pid $pid) cancelled"
    fi
    rm -f "$DIR/guard.pid"
}

inject_main() {
    if [[ -f $DIR/args ]] && ! cmp -s "$DIR/args" <(printf '%s\0' "$NAME" "$@"); then
        die "refused: fault $FAULT_ID is in place with other arguments" \
            "($(tr '\0' ' ' <"$DIR/args")); recover it first"
    fi
    fault_check "$@"
    mkdir -p "$DIR"
    # Written before anything changes, so that a recovery knows what may be in place.
    printf '%s\0' "$NAME" "$@" >"$DIR/args"
    local rc=0
    (
        set -e
        fault_inject "$@"
    ) || rc=$?
    if ((rc != 0)); then
        (fault_recover "$@") >/dev/null 2>&1 || true
        rm -rf "$DIR"
        die "injection failed (exit code $rc); what it changed is undone"
    fi
    guard_arm "$@"
}

recover_main() {
    local args=("$@") stored rc=0
    guard_cancel
    if [[ -f $DIR/args ]]; then
        # What is in place wins over what the caller remembers.
        mapfile -d '' stored <"$DIR/args"
        args=("${stored[@]:1}")
    else
        say "no state for $FAULT_ID (never injected here, already recovered, or a reboot" \
            "cleared $STATE_ROOT): recovering with the arguments given"
    fi
    (
        set -e
        fault_recover "${args[@]}"
    ) || rc=$?
    if ((rc != 0)); then
        if [[ -d $DIR ]]; then
            # Try again soon, whoever called.
            echo $(($(now_ms) + GRACE_SECONDS * 1000)) >"$DIR/deadline"
            guard_arm "${args[@]}" >/dev/null
        fi
        die "recovery failed (exit code $rc); the guard retries in ${GRACE_SECONDS}s"
    fi
    rm -rf "$DIR"
    say "recovered: $FAULT_ID"
}

fault_main() {
    (($# >= 3)) || usage
    local mode=$1
    FAULT_ID=$2
    MAX_DURATION=$3
    shift 3
    [[ $mode =~ ^(inject|recover|guard)$ ]] || usage
    (($# == NARGS)) || usage
    [[ $FAULT_ID =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$ ]] ||
        die "FAULT_ID must be 1 to 64 of A-Z a-z 0-9 _ . - (starting alphanumeric): $FAULT_ID"
    MAX_MS=$(duration_ms "$MAX_DURATION") ||
        die "MAX_DURATION must be a duration such as 90s, 5m, 1h30m: $MAX_DURATION"
    ((MAX_MS > 0 && MAX_MS <= MAX_DURATION_CAP * 1000)) ||
        die "MAX_DURATION must be above 0 and at most ${MAX_DURATION_CAP}s: $MAX_DURATION"
    DIR=$STATE_ROOT/$FAULT_ID
    mkdir -p "$STATE_ROOT"
    LOG=$STATE_ROOT/$FAULT_ID.log
    if [[ $mode == guard ]]; then
        guard_run "$@"
    fi
    exec 9>"$STATE_ROOT/$FAULT_ID.lock"
    flock -w 60 9 || die "another inject or recover of $FAULT_ID holds its lock"
    "${mode}_main" "$@"
}
