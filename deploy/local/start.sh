#!/usr/bin/env bash
# Starts HAS locally on SQLite: pageinspect on :8081, then acmangkut on :8080 (console and API).
# Data in ./data, logs in ./logs. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --release -p pageinspect -p acmangkut
mkdir -p data logs

export HAS_LOG__STDOUT=false
HAS_LOG__DIR=logs/pageinspect HAS_SERVER__LISTEN=127.0.0.1:8081 ./target/release/pageinspect &
pi=$!
trap 'kill $pi ${ak:-} 2>/dev/null || true; wait 2>/dev/null' EXIT INT TERM

HAS_PAGEINSPECT__URL=http://127.0.0.1:8081 HAS_SERVER__LISTEN=${HAS_SERVER__LISTEN:-0.0.0.0:8080} \
    ./target/release/acmangkut &
ak=$!

port=${HAS_SERVER__LISTEN:-0.0.0.0:8080}; port=${port##*:}
for _ in $(seq 1 50); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.2
done
echo
echo "HAS is running."
echo "  console:     http://127.0.0.1:$port/"
echo "  API:         http://127.0.0.1:$port/api/v1/monitors  (OpenAPI: /api/openapi.json)"
echo "  pageinspect: http://127.0.0.1:8081/healthz"
echo "  logs:        logs/acmangkut/app-default.log, logs/acmangkut/common-error.log, logs/metric/"
echo "Press Ctrl-C to stop."
wait
