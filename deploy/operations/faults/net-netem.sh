#!/usr/bin/env bash
# net-netem inject|recover FAULT_ID MAX_DURATION DEV DESTINATION DELAY JITTER LOSS CORRUPT
# Network latency, jitter, loss and corruption with `tc netem` on the packets leaving DEV
# (egress): all of them (DESTINATION empty), or only those to DESTINATION (an IPv4/IPv6 address
# or prefix), sorted by a `prio` root qdisc and a u32 filter into a band that holds the netem.
# DELAY and JITTER are durations (`100ms`; `0` or empty: none), LOSS and CORRUPT percentages
# (`5`, `0.5`; `0`: none). Ours is the root qdisc with handle fa17:, so recovery removes only
# what a fault put there; DEV's default qdisc comes back. A DEV with a configured root qdisc
# of another kind (htb, cake ...) is refused rather than replaced.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
NARGS=6
USAGE="DEV DESTINATION DELAY JITTER LOSS_PERCENT CORRUPT_PERCENT"
HANDLE=fa17

# `kind handle` of DEV's root qdisc.
root_qdisc() {
    tc qdisc show dev "$1" root | awk 'NR == 1 { print $2, $3 }'
}

# tcx ARGS: tc, its error said plainly when the kernel lacks a qdisc.
tcx() {
    local err
    if ! err=$(tc "$@" 2>&1); then
        if [[ $err == *"kind is unknown"* ]]; then
            die "tc $*: this kernel has no such qdisc (netem needs sch_netem, a destination" \
                "also sch_prio: CONFIG_NET_SCH_NETEM, CONFIG_NET_SCH_PRIO): $err"
        fi
        die "tc $*: $err"
    fi
}

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
    local dev=$1 dest=$2 kind handle
    [[ $dev =~ ^[A-Za-z0-9_.@-]{1,15}$ && -e /sys/class/net/$dev ]] || die "no interface $dev"
    [[ -z $dest ]] || valid_address "$dest" || die "DESTINATION is not an address: $dest"
    netem_options "$@" >/dev/null
    read -r kind handle < <(root_qdisc "$dev") || true
    [[ $handle == "$HANDLE:" ]] && return 0
    case $kind in
        "" | noqueue | pfifo_fast | fq_codel | mq | fq | pfifo) ;;
        *) die "refused: $dev has a configured root qdisc ($kind $handle) a fault would replace" ;;
    esac
}

fault_inject() {
    local dev=$1 dest=$2 opts kind handle
    opts=$(netem_options "$@")
    read -r kind handle < <(root_qdisc "$dev") || true
    if [[ $handle == "$HANDLE:" ]]; then
        tcx qdisc del dev "$dev" root
    fi
    if [[ -z $dest ]]; then
        # shellcheck disable=SC2086
        tcx qdisc add dev "$dev" root handle "$HANDLE:" netem $opts
    else
        local proto=ip match=ip
        [[ $dest == *:* ]] && proto=ipv6 match=ip6
        # Bands 1-3 take the traffic as the default priomap says; band 4 only the filter's.
        tcx qdisc add dev "$dev" root handle "$HANDLE:" prio bands 4
        # shellcheck disable=SC2086
        tcx qdisc add dev "$dev" parent "$HANDLE:4" handle fa18: netem $opts
        tcx filter add dev "$dev" parent "$HANDLE:" protocol "$proto" prio 1 u32 \
            match "$match" dst "$dest" flowid "$HANDLE:4"
    fi
    say "netem on $dev${dest:+ to $dest}: $opts"
}

fault_recover() {
    local dev=$1 kind handle
    if [[ ! -e /sys/class/net/$dev ]]; then
        say "no interface $dev: nothing to recover"
        return
    fi
    read -r kind handle < <(root_qdisc "$dev") || true
    if [[ $handle == "$HANDLE:" ]]; then
        tcx qdisc del dev "$dev" root
        say "netem removed from $dev (root qdisc now: $(root_qdisc "$dev"))"
    else
        say "no netem of a fault on $dev (root qdisc: $kind $handle)"
    fi
}

fault_main "$@"
