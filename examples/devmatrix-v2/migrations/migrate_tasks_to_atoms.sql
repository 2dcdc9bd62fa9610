-- Convert every MVP task into eight atoms (the runbook's migrate_tasks_to_atoms.py).
INSERT INTO atomic_units (task_id, name, estimated_loc, complexity, context_json)
SELECT t.task_id,
       t.title || ' / atom ' || g,
       10 + (t.task_id * 7 + g * 3) % 40,
       round(((t.task_id + g) % 5 + 1) / 5.0, 2),
       jsonb_build_object('completeness_score', 0.91 + ((t.task_id + g) % 10) / 100.0, 'source_task', t.task_id)
FROM masterplan_tasks t
CROSS JOIN generate_series(1, 8) g;
