"""Reading the uploaded object: the exact announced version, byte ranges, gzip within its limits."""
