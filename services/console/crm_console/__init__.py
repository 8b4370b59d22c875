"""The staff console: server-rendered pages over the four services, for people signed in."""
