# Shared by the tc faults (sourced after lib.sh). A fault owns the root qdisc with handle fa17:
# of its interface: all of the interface's egress goes through the fault's leaf qdisc, or, for
# one destination, a `prio` root sorts packets to it (u32 filter) into band 4, which holds the
# leaf, and everything else into bands 1-3 as the default priomap does. Recovery removes only a
# root qdisc with that handle (the device's default comes back); a device whose root qdisc is
# configured (htb, cake ...) is refused rather than replaced.

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
            die "tc $*: this kernel has no such qdisc (netem needs sch_netem, tbf sch_tbf, a" \
                "destination also sch_prio: CONFIG_NET_SCH_NETEM, _TBF, _PRIO): $err"
        fi
        die "tc $*: $err"
    fi
}

# tc_check DEV DESTINATION: the device exists, the destination is an address, and the root
# qdisc is a default one or a fault's.
tc_check() {
    local dev=$1 dest=$2 kind handle
    [[ $dev =~ ^[A-Za-z0-9_.@-]{1,15}$ && -e /sys/class/net/$dev ]] || die "no interface $dev"
    [[ -z $dest ]] || valid_address "$dest" || die "DESTINATION is not an address: $dest"
    read -r kind handle < <(root_qdisc "$dev") || true
    [[ $handle == "$HANDLE:" ]] && return 0
    case $kind in
        "" | noqueue | pfifo_fast | fq_codel | mq | fq | pfifo) ;;
        *) die "refused: $dev has a configured root qdisc ($kind $handle) a fault would replace" ;;
    esac
}

# tc_install DEV DESTINATION LEAF...: LEAF (`netem delay 100ms`, `tbf rate 1mbit ...`) on all
# of DEV's egress, or on what goes to DESTINATION; replaces a fault's earlier root qdisc.
tc_install() {
    local dev=$1 dest=$2 kind handle proto=ip match=ip
    shift 2
    read -r kind handle < <(root_qdisc "$dev") || true
    if [[ $handle == "$HANDLE:" ]]; then
        tcx qdisc del dev "$dev" root
    fi
    if [[ -z $dest ]]; then
        tcx qdisc add dev "$dev" root handle "$HANDLE:" "$@"
        return
    fi
    [[ $dest == *:* ]] && proto=ipv6 match=ip6
    tcx qdisc add dev "$dev" root handle "$HANDLE:" prio bands 4
    tcx qdisc add dev "$dev" parent "$HANDLE:4" handle fa18: "$@"
    tcx filter add dev "$dev" parent "$HANDLE:" protocol "$proto" prio 1 u32 \
        match "$match" dst "$dest" flowid "$HANDLE:4"
}

# tc_remove DEV: removes a fault's root qdisc from DEV, if there is one.
tc_remove() {
    local dev=$1 kind handle
    if [[ ! -e /sys/class/net/$dev ]]; then
        say "no interface $dev: nothing to recover"
        return
    fi
    read -r kind handle < <(root_qdisc "$dev") || true
    if [[ $handle == "$HANDLE:" ]]; then
        tcx qdisc del dev "$dev" root
        say "$kind removed from $dev (root qdisc now: $(root_qdisc "$dev"))"
    else
        say "no qdisc of a fault on $dev (root qdisc: ${kind:-none} $handle)"
    fi
}
