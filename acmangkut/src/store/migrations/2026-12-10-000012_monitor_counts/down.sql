DROP TRIGGER monitor_counts_keep ON monitors;
DROP FUNCTION monitor_counts_keep();
DROP TABLE monitor_counts;
