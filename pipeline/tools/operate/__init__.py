"""Operating a deployed pipeline: reconcile, redrive, sweep and the state machine's executions."""
