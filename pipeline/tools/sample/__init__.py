"""Realistic sample files for the shipped datasets, generated with a fixed seed."""

from pipeline.tools.sample.orders import write_orders

__all__ = ["write_orders"]
