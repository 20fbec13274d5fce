-- The number of monitors, kept by triggers in the transaction that inserts or deletes one, so
-- the unfiltered list reads its total from 16 rows instead of counting every monitor (on
-- PostgreSQL `COUNT(*)` reads an index entry of every monitor: about a third of the list
-- page's cost at 1,000 monitors, growing with the table). Sixteen rows (`id % 16`), so
-- concurrent creates of consecutive ids lock different rows until they commit.
-- SQLite's triggers are written in its own dialect: `up.sqlite.sql`.
CREATE TABLE monitor_counts (
    shard BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);
WITH RECURSIVE shards (s) AS (SELECT 0 UNION ALL SELECT s + 1 FROM shards WHERE s < 15)
INSERT INTO monitor_counts (shard, n)
SELECT s, (SELECT COUNT(*) FROM monitors WHERE monitors.id % 16 = s) FROM shards;

CREATE FUNCTION monitor_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE monitor_counts SET n = n + 1 WHERE shard = NEW.id % 16;
    ELSE
        UPDATE monitor_counts SET n = n - 1 WHERE shard = OLD.id % 16;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER monitor_counts_keep AFTER INSERT OR DELETE ON monitors
    FOR EACH ROW EXECUTE FUNCTION monitor_counts_keep();
