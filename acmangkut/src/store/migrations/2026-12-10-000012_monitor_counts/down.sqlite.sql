DROP TRIGGER monitor_counts_delete;
DROP TRIGGER monitor_counts_insert;
DROP TABLE monitor_counts;
