#!/usr/bin/env bash
# net-bandwidth inject|recover FAULT_ID MAX_DURATION DEV DESTINATION RATE
# Limits the packets leaving DEV (egress; DESTINATION empty: all of them, else only those to
# that IPv4/IPv6 address or prefix) to RATE (`1mbit`, `500kbit`, `10mbit`, `1gbit`) with a
# token bucket (`tc tbf`); the excess waits in a queue of up to 500 ms, then is dropped.
# tc.sh says which qdisc is the fault's, and what is refused.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/tc.sh"
NARGS=3
USAGE="DEV DESTINATION RATE"

# RATE in bits per second.
rate_bits() {
    [[ $1 =~ ^([0-9]{1,9})(bit|kbit|mbit|gbit)$ ]] ||
        die "RATE must be a rate such as 500kbit, 10mbit, 1gbit: $1"
    local n=$((10#${BASH_REMATCH[1]}))
    case ${BASH_REMATCH[2]} in
        bit) echo "$n" ;;
        kbit) echo $((n * 1000)) ;;
        mbit) echo $((n * 1000000)) ;;
        gbit) echo $((n * 1000000000)) ;;
    esac
}

fault_check() {
    tc_check "$1" "$2"
    (($(rate_bits "$3") >= 8000)) || die "RATE must be at least 8kbit: $3"
}

fault_inject() {
    local bits burst
    bits=$(rate_bits "$3")
    # A bucket of 20 ms at RATE (so that a fast RATE is reached between timer ticks), at least
    # a few full-size packets.
    burst=$((bits / 8 / 50))
    ((burst >= 16384)) || burst=16384
    tc_install "$1" "$2" tbf rate "$3" burst "$burst" latency 500ms
    say "bandwidth of $1${2:+ to $2} limited to $3 (tbf, burst $burst bytes)"
}

fault_recover() {
    tc_remove "$1"
}

fault_main "$@"
