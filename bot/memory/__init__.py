"""Memory beyond the context window: running summaries, pinned facts, recalled old lines.

``service.MemoryService`` is what front ends and the prompt builder call; ``summarizer`` folds
trimmed lines into a summary in the background, ``recall`` finds old lines that the current
message mentions, ``prompts`` writes the summary prompts and the prompt's memory block.
"""
