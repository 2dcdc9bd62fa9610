-- MGE V2 schema: the seven new tables.
CREATE TABLE atomic_units (
    atom_id        serial PRIMARY KEY,
    task_id        integer NOT NULL REFERENCES masterplan_tasks (task_id),
    name           text NOT NULL,
    estimated_loc  integer NOT NULL,
    complexity     numeric NOT NULL,
    context_json   jsonb NOT NULL
);
CREATE INDEX atomic_units_task ON atomic_units (task_id);
CREATE TABLE atom_dependencies (
    atom_id        integer NOT NULL REFERENCES atomic_units (atom_id),
    depends_on_id  integer NOT NULL REFERENCES atomic_units (atom_id),
    PRIMARY KEY (atom_id, depends_on_id)
);
CREATE TABLE dependency_graphs (graph_id serial PRIMARY KEY, masterplan_id integer NOT NULL, graph_json jsonb NOT NULL);
CREATE TABLE validation_results (result_id serial PRIMARY KEY, atom_id integer NOT NULL REFERENCES atomic_units (atom_id), passed boolean NOT NULL);
CREATE TABLE execution_waves (wave_id serial PRIMARY KEY, graph_id integer NOT NULL REFERENCES dependency_graphs (graph_id), wave integer NOT NULL);
CREATE TABLE atom_retry_history (retry_id serial PRIMARY KEY, atom_id integer NOT NULL REFERENCES atomic_units (atom_id), attempt integer NOT NULL);
CREATE TABLE human_review_queue (review_id serial PRIMARY KEY, atom_id integer NOT NULL REFERENCES atomic_units (atom_id), reason text NOT NULL);
