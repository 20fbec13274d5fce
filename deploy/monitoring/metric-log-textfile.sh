#!/bin/sh
# Collector example for acmangkut's per-day metric log (`<metric_log.dir>/YYYYMMDD.log`, one
# line a minute: `time|item|count in the interval|count since start`), for sites that collect
# from log files as the original product did. It turns the newest line of each item of today's
# file (UTC) into a file for node_exporter's textfile collector, written atomically.
#
#   metric-log-textfile.sh LOG_DIR OUT_FILE      (e.g. from cron, every minute)
#   node_exporter --collector.textfile.directory="$(dirname OUT_FILE)"
set -eu
dir=${1:?usage: metric-log-textfile.sh LOG_DIR OUT_FILE}
out=${2:?usage: metric-log-textfile.sh LOG_DIR OUT_FILE}
log="$dir/$(date -u +%Y%m%d).log"
tmp="$out.$$.tmp"
trap 'rm -f "$tmp"' EXIT
if [ -f "$log" ]; then
    awk -F'|' '
        NF == 4 && $3 ~ /^[0-9]+$/ && $4 ~ /^[0-9]+$/ { last[$2] = $3; total[$2] = $4 }
        END {
            print "# HELP has_metric_log_in_interval Count in the newest metric-log interval."
            print "# TYPE has_metric_log_in_interval gauge"
            for (i in last) printf "has_metric_log_in_interval{item=\"%s\"} %s\n", i, last[i]
            print "# HELP has_metric_log_since_start Count since the process started."
            print "# TYPE has_metric_log_since_start gauge"
            for (i in total) printf "has_metric_log_since_start{item=\"%s\"} %s\n", i, total[i]
        }' "$log" > "$tmp"
else
    # No line yet today: export nothing rather than stale numbers.
    : > "$tmp"
fi
mv "$tmp" "$out"
trap - EXIT
