"""retention: enforce a privacy policy's retention periods in a relational database."""

__version__ = "0.1.0"
