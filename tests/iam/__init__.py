"""Offline proof of least privilege: recorded AWS calls checked against each function's role in the template."""
