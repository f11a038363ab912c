"""Galatea's core: settings, store, prompts, inference and roleplay sessions.

Nothing in this package imports discord, except bot/client.py, the discord.py adapter.
"""
