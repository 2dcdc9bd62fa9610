DROP TABLE IF EXISTS human_review_queue, atom_retry_history, execution_waves, validation_results, dependency_graphs, atom_dependencies, atomic_units;
