"""The campaigns HTTP API: thin routers that parse, call a use case and map the result."""
