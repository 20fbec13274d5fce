#!/usr/bin/env bash
# Starts HAS locally on SQLite: pageinspect on :8081, then acmangkut on :8080 (console and API),
# then runs hasinit once to seed the permission metadata and the first admin.
# Data in ./data, logs in ./logs. Ctrl-C stops both services.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --release -p pageinspect -p acmangkut -p hasinit
mkdir -p data logs

# The bootstrap token: acmangkut accepts it (HAS_IAM__BOOTSTRAP_TOKEN) and hasinit presents it
# (HAS_ACMANGKUT__TOKEN). A fresh one per start unless one is given; passed to those two
# processes only (pageinspect and hasinit reject config keys that are not theirs).
bootstrap_token=${HAS_IAM__BOOTSTRAP_TOKEN:-$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')}
# hasinit's own HAS_ADMIN__PASSWORD, if given, likewise reaches hasinit only.
admin_password=${HAS_ADMIN__PASSWORD:-}
unset HAS_IAM__BOOTSTRAP_TOKEN HAS_ADMIN__PASSWORD
# pageinspect serves authenticated callers only: a service token per start, shared with acmangkut.
service_token=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')

export HAS_LOG__STDOUT=false
HAS_LOG__DIR=logs/pageinspect HAS_SERVER__LISTEN=127.0.0.1:8081 HAS_AUTH__SERVICE_TOKEN=$service_token \
    ./target/release/pageinspect &
pi=$!
trap 'kill $pi ${ak:-} 2>/dev/null || true; wait 2>/dev/null' EXIT INT TERM

HAS_PAGEINSPECT__URL=http://127.0.0.1:8081 HAS_PAGEINSPECT__TOKEN=$service_token \
    HAS_SERVER__LISTEN=${HAS_SERVER__LISTEN:-0.0.0.0:8080} HAS_IAM__BOOTSTRAP_TOKEN=$bootstrap_token \
    ./target/release/acmangkut &
ak=$!

port=${HAS_SERVER__LISTEN:-0.0.0.0:8080}; port=${port##*:}
for _ in $(seq 1 50); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.2
done

# Seed permissions, roles and the first admin (idempotent: later starts change nothing). A
# generated admin password is printed here, once; HAS_ADMIN__PASSWORD sets one instead.
echo
hasinit_rc=0
env -u HAS_SERVER__LISTEN HAS_LOG__DIR=logs/hasinit HAS_ACMANGKUT__URL="http://127.0.0.1:$port" \
    HAS_ACMANGKUT__TOKEN="$bootstrap_token" HAS_WAIT__MAX_SECONDS=60 \
    ${admin_password:+"HAS_ADMIN__PASSWORD=$admin_password"} ./target/release/hasinit || hasinit_rc=$?
if [ "$hasinit_rc" -ne 0 ]; then
    echo "hasinit failed (exit $hasinit_rc, see docs/hasinit.md); HAS keeps running." >&2
fi

echo
echo "HAS is running."
echo "  console:     http://127.0.0.1:$port/"
echo "  API:         http://127.0.0.1:$port/api/v1/monitors  (OpenAPI: /api/openapi.json)"
echo "  pageinspect: http://127.0.0.1:8081/healthz"
echo "  logs:        logs/acmangkut/app-default.log, logs/acmangkut/common-error.log, logs/metric/, logs/hasinit/"
echo "Press Ctrl-C to stop."
wait
