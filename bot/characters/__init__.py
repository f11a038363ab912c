"""Characters: creating, editing and finding them, their cards, names and avatar images.

- ``fields``: the draft people write; the fields themselves are defined once, with their
  specs, in ``bot.values.CharacterFields`` (``CHARACTER_FIELDS``);
- ``validation``: names, limits and lookalike names, checked from the specs;
- ``card_io``: the boundary between a card (``bot.cards.CharacterCard``, the file's document)
  and a character: what an import keeps (``kept_card_json``), what an export writes;
- ``service``: ``CharacterService``, whose every change takes the acting ``caller`` and holds
  them to ``bot.policy``;
- ``lookalike``, ``avatar_fetch``: names people can tell apart; avatars fetched from links.
"""
