DROP TABLE screenshots;
ALTER TABLE probe_results DROP COLUMN has_screenshot;
ALTER TABLE probe_results DROP COLUMN attempt;
ALTER TABLE probe_results DROP COLUMN location;
ALTER TABLE monitors DROP COLUMN location_failure_threshold;
ALTER TABLE monitors DROP COLUMN locations_json;
ALTER TABLE monitors DROP COLUMN degraded_threshold_ms;
