"""Lorebooks (world info): a character's own book and server-wide worlds.

``scan`` decides which entries a conversation brings into the prompt (SillyTavern's rules,
read by ``rules``), with every key of a book compiled once per revision by ``matcher`` and
regex keys run on RE2 (``regex_keys``); ``models`` holds the stored books as values,
``service`` the operations front ends call; ``entry_ids`` and ``world_file`` keep books
readable by SillyTavern (unique ids, world info files in and out).
Entries are ``bot.cards.LoreEntry`` values, the same a character card carries.
"""
