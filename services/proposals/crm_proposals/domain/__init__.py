"""The proposals domain: pure Python, no I/O. Rules live here; handlers load and save."""
