"""Members: their personas, and what Galatea forgets on request."""
