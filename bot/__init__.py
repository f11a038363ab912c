"""Galatea's core: settings, store, prompts, inference and roleplay sessions.

Nothing in this package imports discord: the discord.py client and cogs live in cogs/.
"""
