-- The v2 schema in PostgreSQL (SQLAlchemy-based repositories), the target of
-- the SQLite → PostgreSQL copy.
CREATE TABLE users (
  user_id    text PRIMARY KEY,
  email      text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL
);
CREATE TABLE projects (
  project_id text PRIMARY KEY,
  user_id    text NOT NULL REFERENCES users (user_id),
  name       text NOT NULL
);
CREATE TABLE tasks (
  task_id    text PRIMARY KEY,
  project_id text NOT NULL REFERENCES projects (project_id),
  title      text NOT NULL,
  status     text NOT NULL CHECK (status IN ('todo', 'in_progress', 'done', 'blocked')),
  priority   integer NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE micro_steps (
  step_id           text PRIMARY KEY,
  task_id           text NOT NULL REFERENCES tasks (task_id),
  description       text NOT NULL,
  estimated_minutes integer NOT NULL,
  completed         boolean NOT NULL
);
CREATE TABLE focus_sessions (
  session_id       text PRIMARY KEY,
  user_id          text NOT NULL REFERENCES users (user_id),
  task_id          text REFERENCES tasks (task_id),
  started_at       timestamptz NOT NULL,
  duration_minutes integer NOT NULL
);
CREATE INDEX tasks_project ON tasks (project_id);
CREATE INDEX micro_steps_task ON micro_steps (task_id);
