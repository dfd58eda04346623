"""The embedded local cloud: MiniStack on loopback, its state in a state directory."""

from pipeline.tools.local.server import LocalCloud, LocalCloudError

__all__ = ["LocalCloud", "LocalCloudError"]
