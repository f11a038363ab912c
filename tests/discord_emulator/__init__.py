"""Worked examples of the Discord emulation (testkit/discord_emulator) and the small bot
they drive (sample_bot)."""
