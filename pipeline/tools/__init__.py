"""Operator tools (CLI helpers, local cloud, deploy, console, bench, ...): never in a Lambda package."""
