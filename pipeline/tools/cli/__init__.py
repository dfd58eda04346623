"""The `pipeline` command line: rich output for people, `--json` for scripts."""
