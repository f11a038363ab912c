"""The load driver: a world of channels and members posting at once (tests/load runs it)."""
