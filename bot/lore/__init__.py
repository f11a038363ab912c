"""Lorebooks (world info): a character's own book and server-wide worlds.

``scan`` decides which entries a conversation brings into the prompt (SillyTavern's rules,
read by ``rules``), with every key of a book compiled once per revision by ``matcher`` and
regex keys run on RE2 (``regex_keys``); ``service`` holds the operations front ends call
and ``world_file`` reads and writes SillyTavern's world info files. The stored books are
values in ``bot.values`` and their entry ids are kept unique by ``bot.cards.entry_ids``
(both below the store, which this package uses). Entries are ``bot.cards.LoreEntry``
values, the same a character card carries.
"""
