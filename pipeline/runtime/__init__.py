"""The Lambda runtime: exactly what the code zip ships (`pipeline/tools/deploy/package.py` zips this folder whole)."""
