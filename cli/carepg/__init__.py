"""carepg: open shifts and price transparency, answered inside PostgreSQL; Python is a thin shell."""

__version__ = "0.1.0"
