-- `up.sql` in SQLite's dialect (its triggers have no function).
CREATE TABLE monitor_counts (
    shard BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);
WITH RECURSIVE shards (s) AS (SELECT 0 UNION ALL SELECT s + 1 FROM shards WHERE s < 15)
INSERT INTO monitor_counts (shard, n)
SELECT s, (SELECT COUNT(*) FROM monitors WHERE monitors.id % 16 = s) FROM shards;

CREATE TRIGGER monitor_counts_insert AFTER INSERT ON monitors BEGIN
    UPDATE monitor_counts SET n = n + 1 WHERE shard = NEW.id % 16;
END;
CREATE TRIGGER monitor_counts_delete AFTER DELETE ON monitors BEGIN
    UPDATE monitor_counts SET n = n - 1 WHERE shard = OLD.id % 16;
END;
