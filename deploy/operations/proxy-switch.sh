#!/usr/bin/env bash
# proxy-switch UPSTREAM_FILE HOST:PORT NGINX_CONF: points an nginx (stream or http) upstream at
# HOST:PORT and reloads nginx. UPSTREAM_FILE is included inside the upstream block, e.g.
#     stream { upstream db { include /etc/nginx/db-upstream.conf; } ... }
# and is rewritten to hold the one line `server HOST:PORT;`. The new file is tested with
# `nginx -t` first; on a failed test the previous file is put back and nothing is reloaded.
# `nginx -s reload` only signals nginx: this waits (10 s at most) until nginx runs the new
# configuration, i.e. every worker that accepted connections before has stopped accepting
# (`worker process is shutting down`) and a new one has started. Needs procps (pgrep).
# Idempotent. Undo: the same with the previous address.
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
[[ $# -eq 3 ]] || die "usage: proxy-switch UPSTREAM_FILE HOST:PORT NGINX_CONF"
upstream=$1 address=$2 conf=$3
[[ "$address" =~ ^[A-Za-z0-9.-]+:[0-9]{1,5}$ || "$address" =~ ^\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}$ ]] ||
    die "not a HOST:PORT: $address"
[[ -f "$conf" ]] || die "no nginx config at $conf"
previous=$(mktemp "$upstream.previous.XXXXXX")
trap 'rm -f "$previous" "$upstream.new"' EXIT
[[ -f "$upstream" ]] && cp -p "$upstream" "$previous"
printf 'server %s;\n' "$address" >"$upstream.new"
mv -f "$upstream.new" "$upstream"
if ! out=$(nginx -t -q -e stderr -c "$conf" 2>&1); then
    cp -p "$previous" "$upstream"
    die "nginx -t refused the new upstream (the previous one is back): $out"
fi

# workers MASTER: the pids of MASTER's worker processes that accept connections.
workers() {
    local pid
    for pid in $(pgrep -P "$1"); do
        case $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) in
        *"worker process is shutting down"*) ;;
        *"worker process"*) echo "$pid" ;;
        esac
    done
}

pid_file=$(sed -n 's/^[[:space:]]*pid[[:space:]]\{1,\}\([^;[:space:]]\{1,\}\);.*/\1/p' "$conf")
master=$(head -n1 "${pid_file:-/run/nginx.pid}" 2>/dev/null || true)
[[ "$master" =~ ^[0-9]+$ ]] || die "no nginx master pid in ${pid_file:-/run/nginx.pid}"
before=" $(workers "$master" | tr '\n' ' ')"
nginx -e stderr -c "$conf" -s reload
for _ in $(seq 100); do
    now=$(workers "$master")
    stale=0
    for pid in $now; do [[ "$before" == *" $pid "* ]] && stale=1; done
    if [[ -n "$now" && $stale -eq 0 ]]; then
        echo "switched $upstream to $address"
        exit 0
    fi
    sleep 0.1
done
die "nginx did not take the new upstream within 10 s (see its error log)"
