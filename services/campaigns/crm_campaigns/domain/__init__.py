"""The campaigns domain: pure Python, no I/O. Aggregates, value objects and their rules."""
