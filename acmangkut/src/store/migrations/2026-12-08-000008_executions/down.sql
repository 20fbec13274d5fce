DROP TABLE plan_execution_events;
DROP TABLE plan_execution_steps;
DROP TABLE plan_executions;
