"""`pipeline console`: a small read-only web app on loopback over the same functions the CLI uses."""
