"""Lorebooks (world info): a character's own book and server-wide worlds.

``scan`` decides which entries a conversation brings into the prompt (SillyTavern's rules),
``models`` holds the stored books as values, ``service`` the operations front ends call.
Entries are ``bot.cards.LoreEntry`` values, the same a character card carries.
"""
