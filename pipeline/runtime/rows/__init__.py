"""Turn CSV bytes into validated, typed rows and row-level rejects."""
