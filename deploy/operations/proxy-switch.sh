#!/usr/bin/env bash
# proxy-switch UPSTREAM_FILE HOST:PORT NGINX_CONF: points an nginx (stream or http) upstream at
# HOST:PORT and reloads nginx. UPSTREAM_FILE is included inside the upstream block, e.g.
#     stream { upstream db { include /etc/nginx/db-upstream.conf; } ... }
# and is rewritten to hold the one line `server HOST:PORT;`. The new file is tested with
# `nginx -t` first; on a failed test the previous file is put back and nothing is reloaded.
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
nginx -e stderr -c "$conf" -s reload
echo "switched $upstream to $address"
