-- Rollback: "switch the database back to SQLite" — the v2 tables go; SQLite
-- was never written to.
DROP TABLE IF EXISTS focus_sessions, micro_steps, tasks, projects, users;
