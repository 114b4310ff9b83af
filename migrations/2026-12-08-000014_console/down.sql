DROP TABLE operator_actions;
DROP TABLE console_sessions;
