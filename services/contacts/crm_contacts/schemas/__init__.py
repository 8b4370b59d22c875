"""HTTP request and response shapes of the contacts API (never the stored document or event)."""
