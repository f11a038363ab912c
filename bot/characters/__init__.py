"""Characters: creating, editing and finding them, their cards, names and avatar images."""
