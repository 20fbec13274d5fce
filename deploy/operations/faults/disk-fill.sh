#!/usr/bin/env bash
# disk-fill inject|recover FAULT_ID MAX_DURATION DIR SIZE MIN_FREE
# Fills the file system of DIR with one file, `DIR/has-fault-<id>.fill`, of SIZE bytes (`512M`,
# `10G`; `auto`: all but MIN_FREE) made with fallocate (no data is written, it is instant).
# Refused, changing nothing, when the file system would keep less than MIN_FREE free (`1G`).
# Recovery deletes the file. Unlike the other faults this one outlives a reboot: the file
# stays until a recovery removes it (a drill's reconciliation does; the guard cannot).
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
NARGS=3
USAGE="DIR SIZE|auto MIN_FREE"

bytes() {
    [[ $1 =~ ^[0-9]{1,15}[KMGT]?$ ]] || die "$2 must be bytes such as 512M, 10G: $1"
    numfmt --from=iec "$1"
}

fill_file() {
    echo "${1%/}/has-fault-$FAULT_ID.fill"
}

fault_check() {
    local dir=$1 avail min_free
    [[ $dir == /* && -d $dir ]] || die "DIR must be an existing directory: $dir"
    min_free=$(bytes "$3" MIN_FREE)
    [[ $2 == auto ]] || SIZE_BYTES=$(bytes "$2" SIZE)
    if [[ -f $(fill_file "$dir") ]]; then
        return 0
    fi
    avail=$(df --output=avail -B1 "$dir" | tail -n 1 | tr -d ' ')
    [[ $2 != auto ]] || SIZE_BYTES=$((avail - min_free))
    ((SIZE_BYTES > 0)) || die "refused: $avail bytes free, not above MIN_FREE $3"
    ((avail - SIZE_BYTES >= min_free)) ||
        die "refused: filling $SIZE_BYTES of the $avail bytes free in $dir would leave" \
            "$((avail - SIZE_BYTES)), under MIN_FREE $3 ($min_free)"
}

fault_inject() {
    local file
    file=$(fill_file "$1")
    if [[ -f $file ]]; then
        say "already filled: $file ($(stat -c %s "$file") bytes)"
        return
    fi
    fallocate -l "$SIZE_BYTES" "$file"
    say "filled $SIZE_BYTES bytes: $file; free now: $(df --output=avail -B1 "$1" | tail -n 1)"
}

fault_recover() {
    local file
    file=$(fill_file "$1")
    if [[ -f $file ]]; then
        rm -f -- "$file"
        say "removed $file"
    else
        say "no fill file $file"
    fi
}

fault_main "$@"
