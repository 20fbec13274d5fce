DROP TABLE state_changes;
DROP TABLE rollup_latency;
DROP TABLE rollup_hours;
DROP TABLE probe_results;
DROP TABLE monitor_labels;
DROP TABLE monitors;
