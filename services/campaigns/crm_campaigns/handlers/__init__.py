"""Use cases: load → act on the domain → save with the outbox."""
