DROP TABLE drill_run_events;
DROP TABLE drill_run_targets;
DROP TABLE drill_runs;
DROP TABLE drill_versions;
DROP TABLE drills;
