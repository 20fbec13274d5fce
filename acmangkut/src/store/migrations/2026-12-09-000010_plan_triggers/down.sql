DROP TABLE plan_risk_proposals;
DROP TABLE plan_schedules;
