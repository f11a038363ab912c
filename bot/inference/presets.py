"""Named sampler presets, chosen per server (/config) or per session."""

from __future__ import annotations

from bot.inference.base import GenerationParams

# Each preset changes only sampler fields; the reply length comes from settings or /config.
PRESETS: dict[str, dict[str, object]] = {
    # The settings PygmalionAI recommended for its models (temperature 0.5-0.9, top-p 0.9,
    # repetition penalty 1.1 over a small window).
    "pygmalion": {"temperature": 0.7, "top_p": 0.9, "top_k": 0, "repetition_penalty": 1.1},
    "balanced": {"temperature": 0.8, "top_p": 0.9, "top_k": 40, "repetition_penalty": 1.1},
    "creative": {"temperature": 1.1, "top_p": 0.95, "top_k": 0, "repetition_penalty": 1.05},
    "precise": {"temperature": 0.4, "top_p": 0.8, "top_k": 20, "repetition_penalty": 1.15},
}


def apply_preset(params: GenerationParams, name: str | None) -> GenerationParams:
    if not name:
        return params
    return params.replace(**PRESETS[name])
