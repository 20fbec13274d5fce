DROP TABLE plan_operation_refs;
DROP TABLE operation_versions;
DROP TABLE operations;
