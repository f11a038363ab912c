"""What every HTTP backend shares: sessions, timeouts, error mapping, retries and SSE parsing.

``limits`` (timeouts, retries), ``errors`` (what a member reads), ``requests`` (sessions and
JSON requests), ``sse`` (event streams) and ``streaming`` (a reply's pieces, cut and retried).

Failures become :mod:`bot.errors` exceptions whose ``user_message`` a Discord user can read:

* connection refused / DNS failure / no TCP connection in time -> ``BackendUnavailable``
* HTTP 401/403 -> ``BackendUnavailable`` about the API key
* HTTP 400/413/422 saying the prompt is too long -> ``PromptTooLong``
* other HTTP 4xx -> ``InferenceError``
* HTTP 5xx -> ``ServerError`` (an ``InferenceError``), retried with backoff, but only while
  no text has reached the caller: retrying after that would repeat the reply's beginning
* timeouts -> ``GenerationTimeout``
* malformed JSON or a stream cut short -> ``InferenceError`` ("... could not read ...")

A member only ever reads the short sentence; the server's own words and its address (paths,
hosts, a URL with a password) are the error's ``detail``, logged with secrets redacted.
Nothing here logs an API key, and prompts are logged only at DEBUG by the backends.
"""
