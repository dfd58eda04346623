"""The conformance matrix: independent readers (test oracles) and the corpus they read (issue 14)."""
