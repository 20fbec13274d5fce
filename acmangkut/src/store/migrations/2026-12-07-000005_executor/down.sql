DROP TABLE action_runs;
