"""Load through the Discord emulation: many channels and users against the real bot.

``driver.run_load`` is used by ``test_load_end_to_end.py`` and by ``python -m tests.load``.
"""
