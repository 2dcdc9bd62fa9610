-- One batch of the conversion (the runbook's migrate_tasks_to_atoms.py):
-- the next ten MVP tasks that have no atoms yet, eight atoms each. The step
-- repeats it until every task is converted.
INSERT INTO atomic_units (task_id, name, estimated_loc, complexity, context_json)
SELECT t.task_id,
       t.title || ' / atom ' || g,
       10 + (t.task_id * 7 + g * 3) % 40,
       round(((t.task_id + g) % 5 + 1) / 5.0, 2),
       jsonb_build_object('completeness_score', 0.91 + ((t.task_id + g) % 10) / 100.0, 'source_task', t.task_id)
FROM (
  SELECT task_id, title FROM masterplan_tasks t
  WHERE NOT EXISTS (SELECT 1 FROM atomic_units a WHERE a.task_id = t.task_id)
  ORDER BY task_id
  LIMIT 10
) t
CROSS JOIN generate_series(1, 8) g;
