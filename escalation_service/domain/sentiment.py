"""How negative a customer's message reads, and what decided it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from escalation_service.domain.text import PhraseMatch, PhraseMatcher


@dataclass(frozen=True)
class SentimentReading:
    score: float  # -1 (furious) .. 1 (delighted)
    language: str  # ISO 639-1, or "" when there was no text to read
    analyzer: str  # "vader", "leia", "phrases", "http:<host>", "...+fallback", or "none"
    phrases: tuple[PhraseMatch, ...] = ()  # the sentiment phrases that moved the score


class SentimentAnalyzer(Protocol):
    async def analyze(
        self, text: str, *, languages: Sequence[str], phrases: PhraseMatcher
    ) -> SentimentReading:
        """Read `text`, written in one of the tenant's `languages` (most likely first),
        adding the valences of the `phrases` of its language that it contains."""
        ...


def clamp(score: float) -> float:
    return max(-1.0, min(1.0, score))


def with_phrases(
    score: float, language: str, analyzer: str, matches: Sequence[PhraseMatch]
) -> SentimentReading:
    """A reading of `score` moved by the valences of the phrases of `language` among
    `matches`; every analyzer adds phrases this way."""
    own = tuple(m for m in matches if m.reason is None and m.language == language)
    return SentimentReading(
        score=clamp(score + sum(m.valence for m in own)),
        language=language,
        analyzer=analyzer,
        phrases=own,
    )
