"""Finding known phrases in a customer's message, whatever its case, accents or punctuation.

Both the phrases and the message are normalized the same way, so "Vou PROCESSAR vocês!"
contains "processar", "ügyvéd" matches "ugyved", and "sue you" matches "sue... you". Words
match whole only: "sue" is not in "issue".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from escalation_service.domain.reasons import CRITICAL_REASONS, Reason

# Anything but a letter or digit: punctuation, spaces, emoji, the underscore.
_SEPARATORS = re.compile(r"[\W_]+")


def normalize(text: str) -> str:
    """Lower case, no accents, words separated by single spaces and nothing else."""
    # NFKD splits "é" into "e" and a combining accent (Hungarian "ő" into "o" and a double
    # acute), and dropping the combining marks leaves the bare letter.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", bare).strip()


@dataclass(frozen=True)
class PhraseMatch:
    """A phrase as configured (accents and all): either a critical one (`reason` set) or a
    sentiment one (`valence`, -1..1)."""

    phrase: str
    language: str
    reason: Reason | None = None
    valence: float = 0.0


class PhraseMatcher:
    """Finds its phrases in a text; compiled once into one regex, safe to share.

    Where phrases overlap, the longest one starting first wins and the shorter one inside
    it is not reported: "vou processar" and "nagyon elégedett" say more than "processar"
    and "elégedett", and a sentiment phrase inside a longer one must not count twice.

    Entries with the same language, normalized phrase and reason are one phrase; the last
    one given wins, so a tenant's entries listed after the defaults override them.
    """

    def __init__(self, entries: Iterable[PhraseMatch]) -> None:
        unique: dict[tuple[str, str, Reason | None], PhraseMatch] = {}
        for entry in entries:
            key = normalize(entry.phrase)
            if not key:
                raise ValueError(f"phrase {entry.phrase!r} has no letters or digits")
            unique[(entry.language, key, entry.reason)] = entry
        self._by_phrase: dict[str, list[PhraseMatch]] = {}
        for (_, key, _), entry in unique.items():
            self._by_phrase.setdefault(key, []).append(entry)
        # Longest first, so the regex prefers the longer of two phrases starting at the
        # same word. Normalized text has single spaces between words, so a phrase is a
        # whole-word match when neither side touches another non-space character.
        alternatives = sorted(self._by_phrase, key=len, reverse=True)
        self._pattern = (
            re.compile(r"(?<!\S)(?:" + "|".join(map(re.escape, alternatives)) + r")(?!\S)")
            if alternatives
            else None
        )

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._by_phrase.values())

    def find(self, text: str) -> list[PhraseMatch]:
        """Every distinct phrase found, in the order they appear in the text."""
        if self._pattern is None:
            return []
        found: dict[PhraseMatch, None] = {}
        for match in self._pattern.finditer(normalize(text)):
            found.update(dict.fromkeys(self._by_phrase[match.group()]))
        return list(found)

    def critical_matches(self, text: str) -> list[PhraseMatch]:
        """The phrases found that carry a reason to escalate."""
        return [match for match in self.find(text) if match.reason is not None]

    def sentiment_matches(self, text: str, language: str | None = None) -> list[PhraseMatch]:
        """The phrases found that carry a valence (of `language` only, when given)."""
        return [
            match
            for match in self.find(text)
            if match.reason is None and (language is None or match.language == language)
        ]


def critical_phrases(
    phrases: Mapping[str, Mapping[Reason, Iterable[str]]],
) -> list[PhraseMatch]:
    """Entries for a matcher from `{language: {reason: phrases}}`."""
    entries: list[PhraseMatch] = []
    for language, by_reason in phrases.items():
        for reason, texts in by_reason.items():
            if reason not in CRITICAL_REASONS:
                raise ValueError(f"{reason} is not a reason a customer's words can carry")
            entries.extend(PhraseMatch(text, language, reason=reason) for text in texts)
    return entries


def sentiment_phrases(phrases: Iterable[tuple[str, str, float]]) -> list[PhraseMatch]:
    """Entries for a matcher from `(language, phrase, valence)` triples."""
    entries: list[PhraseMatch] = []
    for language, text, valence in phrases:
        if not -1.0 <= valence <= 1.0:
            raise ValueError(f"valence of {text!r} must be between -1 and 1, not {valence}")
        entries.append(PhraseMatch(text, language, valence=valence))
    return entries
