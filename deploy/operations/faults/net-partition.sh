#!/usr/bin/env bash
# net-partition inject|recover FAULT_ID MAX_DURATION PEER DIRECTION
# Cuts this host off from PEER (an IPv4/IPv6 address or prefix): drops what comes from it
# (DIRECTION `in`), what goes to it (`out`) or both (`both`), established connections too.
# With nftables: a table of the fault's own, `inet has_fault_<id>`, replaced atomically on
# inject and deleted on recover, so no other rule is touched. Without nft: iptables/ip6tables,
# a chain of its own (`HASF-<checksum of the id>`) jumped to first from INPUT/OUTPUT.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
NARGS=2
USAGE="PEER both|in|out"

table() {
    echo "has_fault_${FAULT_ID//[^A-Za-z0-9_]/_}"
}

chain() {
    echo "HASF-$(printf '%s' "$FAULT_ID" | cksum | cut -d' ' -f1)"
}

# iptables or ip6tables, as PEER needs.
ipt() {
    if [[ $PEER == *:* ]]; then ip6tables -w 10 "$@"; else iptables -w 10 "$@"; fi
}

fault_check() {
    PEER=$1
    valid_address "$1" || die "PEER is not an address: $1"
    [[ $2 =~ ^(both|in|out)$ ]] || die "DIRECTION must be both, in or out: $2"
    command -v nft >/dev/null || command -v iptables >/dev/null ||
        die "neither nft (nftables) nor iptables is installed"
}

fault_inject() {
    local peer=$1 direction=$2 family=ip input="" output="" c
    [[ $peer == *:* ]] && family=ip6
    if command -v nft >/dev/null; then
        [[ $direction == out ]] || input="chain input { type filter hook input priority -10;
            policy accept; $family saddr $peer drop; }"
        [[ $direction == in ]] || output="chain output { type filter hook output priority -10;
            policy accept; $family daddr $peer drop; }"
        nft -f - <<NFT
table inet $(table)
delete table inet $(table)
table inet $(table) {
    $input
    $output
}
NFT
        say "partitioned from $peer ($direction): nft table inet $(table)"
        return
    fi
    PEER=$peer
    c=$(chain)
    ipt -N "$c" 2>/dev/null || ipt -F "$c"
    [[ $direction == out ]] || ipt -A "$c" -s "$peer" -j DROP
    [[ $direction == in ]] || ipt -A "$c" -d "$peer" -j DROP
    for hook in INPUT OUTPUT; do
        ipt -C "$hook" -j "$c" 2>/dev/null || ipt -I "$hook" 1 -j "$c"
    done
    say "partitioned from $peer ($direction): iptables chain $c"
}

fault_recover() {
    local c done=""
    PEER=$1
    if command -v nft >/dev/null && nft list table inet "$(table)" >/dev/null 2>&1; then
        nft delete table inet "$(table)"
        done="nft table inet $(table) deleted"
    fi
    c=$(chain)
    if command -v iptables >/dev/null && ipt -n -L "$c" >/dev/null 2>&1; then
        for hook in INPUT OUTPUT; do
            while ipt -C "$hook" -j "$c" 2>/dev/null; do ipt -D "$hook" -j "$c"; done
        done
        ipt -F "$c"
        ipt -X "$c"
        done="${done:+$done; }iptables chain $c deleted"
    fi
    say "${done:-no partition of $FAULT_ID in place}"
}

fault_main "$@"
