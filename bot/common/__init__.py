"""Small tools every part of the core uses: bounded caches, per-key locks, capped HTTP reads."""
