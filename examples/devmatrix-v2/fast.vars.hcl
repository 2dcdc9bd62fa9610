# Close monitoring shortened to a second, for a demonstration or a test run.
monitoring = "1s"
