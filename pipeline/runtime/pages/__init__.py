"""Processing one page: a descriptor's bytes -> rows -> sinks -> the job's page count."""
