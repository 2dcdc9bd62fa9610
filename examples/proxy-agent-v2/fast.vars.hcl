# Bake times shortened to a second, for a demonstration or a test run.
bake             = "1s"
stage_timeout    = "20s"
poll_interval    = "100ms"
final_monitoring = "1s"
