#!/usr/bin/env bash
# net-netem inject|recover FAULT_ID MAX_DURATION DEV DESTINATION DELAY JITTER LOSS CORRUPT
# Network latency, jitter, loss and corruption with `tc netem` on the packets leaving DEV
# (egress): all of them (DESTINATION empty), or only those to DESTINATION (an IPv4/IPv6 address
# or prefix), sorted by a `prio` root qdisc and a u32 filter into a band that holds the netem.
# DELAY and JITTER are durations (`100ms`; `0` or empty: none), LOSS and CORRUPT percentages
# (`5`, `0.5`; `0`: none). tc.sh says which qdisc is the fault's, and what is refused.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/tc.sh"
NARGS=6
USAGE="DEV DESTINATION DELAY JITTER LOSS_PERCENT CORRUPT_PERCENT"

ms_or_none() {
    [[ -z $1 || $1 == 0 ]] && return 0
    local ms
    ms=$(duration_ms "$1") || die "$2 must be a duration such as 100ms: $1"
    echo "$ms"
}

percent_or_none() {
    [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,4})?$ ]] || die "$2 must be a percentage (0-100): $1"
    [[ ${1%%.*} -le 100 ]] || die "$2 must be at most 100: $1"
    [[ $1 =~ ^0+(\.0*)?$ ]] || echo "$1"
}

# The netem options the arguments ask for.
netem_options() {
    local delay jitter loss corrupt opts=""
    delay=$(ms_or_none "$3" DELAY)
    jitter=$(ms_or_none "$4" JITTER)
    loss=$(percent_or_none "$5" LOSS)
    corrupt=$(percent_or_none "$6" CORRUPT)
    [[ -z $jitter || -n $delay ]] || die "JITTER needs a DELAY"
    [[ -n $delay ]] && opts="delay ${delay}ms${jitter:+ ${jitter}ms}"
    [[ -n $loss ]] && opts="$opts loss ${loss}%"
    [[ -n $corrupt ]] && opts="$opts corrupt ${corrupt}%"
    [[ -n $opts ]] || die "nothing to inject: DELAY, LOSS and CORRUPT are all 0"
    echo "${opts# }"
}

fault_check() {
    tc_check "$1" "$2"
    netem_options "$@" >/dev/null
}

fault_inject() {
    local opts
    opts=$(netem_options "$@")
    # shellcheck disable=SC2086
    tc_install "$1" "$2" netem $opts
    say "netem on $1${2:+ to $2}: $opts"
}

fault_recover() {
    tc_remove "$1"
}

fault_main "$@"
