"""Scripted backends the load driver uses."""
