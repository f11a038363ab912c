"""discord.py cogs: thin adapters that parse an interaction, call the core and render the answer."""
