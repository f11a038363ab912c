"""In-process serving on llama.cpp's batch API: many conversations, one context, one thread.

``native`` wraps the C functions (model, context, ``llama_batch``, sampler chains, pieces),
``sequences`` decides which conversation owns which KV sequence (common-prefix reuse, LRU
eviction), ``loop`` runs the decode steps, and ``backend`` is the asyncio-facing Backend.
"""
