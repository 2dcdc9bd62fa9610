# Monitoring windows shortened to seconds, for a demonstration or a test run:
#   cutover apply -var-file fast.vars.hcl
monitoring_windows = {
  "0"   = "0s"
  "10"  = "1s"
  "50"  = "1s"
  "100" = "0s"
}
poll_interval  = "250ms"
window_timeout = "4s"
