"""A tenant's escalation policy: thresholds, phrase lists, priority upgrades and levels.

Pure values. Each change is a new version; a decision records the version it used, so a
tenant can tell which thresholds produced which outcome.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from common.errors import Violations
from common.etags import weak_etag
from escalation_service.domain.default_phrases import (
    DEFAULT_CRITICAL_PHRASES,
    DEFAULT_SENTIMENT_PHRASES,
)
from escalation_service.domain.reasons import CRITICAL_REASONS, Reason
from escalation_service.domain.text import PhraseMatch, PhraseMatcher

MAX_PHRASES = 2_000
MAX_PHRASE_LENGTH = 200
MAX_LEVELS = 10
MAX_SKILLS = 50
MAX_SKILL_LENGTH = 64
LANGUAGE_CODES = frozenset(
    [
        "af",
        "am",
        "an",
        "ar",
        "as",
        "az",
        "be",
        "bg",
        "bn",
        "br",
        "bs",
        "ca",
        "cs",
        "cy",
        "da",
        "de",
        "dz",
        "el",
        "en",
        "eo",
        "es",
        "et",
        "eu",
        "fa",
        "fi",
        "fo",
        "fr",
        "ga",
        "gl",
        "gu",
        "he",
        "hi",
        "hr",
        "ht",
        "hu",
        "hy",
        "id",
        "is",
        "it",
        "ja",
        "jv",
        "ka",
        "kk",
        "km",
        "kn",
        "ko",
        "ku",
        "ky",
        "la",
        "lb",
        "lo",
        "lt",
        "lv",
        "mg",
        "mk",
        "ml",
        "mn",
        "mr",
        "ms",
        "mt",
        "nb",
        "ne",
        "nl",
        "nn",
        "no",
        "oc",
        "or",
        "pa",
        "pl",
        "ps",
        "pt",
        "qu",
        "ro",
        "ru",
        "rw",
        "se",
        "si",
        "sk",
        "sl",
        "sq",
        "sr",
        "sv",
        "sw",
        "ta",
        "te",
        "th",
        "tl",
        "tr",
        "ug",
        "uk",
        "ur",
        "vi",
        "vo",
        "wa",
        "xh",
        "zh",
        "zu",
    ]
)


class Mode(StrEnum):
    AUTO = "auto"
    SUGGEST_ONLY = "suggest_only"


class Priority(StrEnum):
    """The ticket service's priorities, in rising order."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return _PRIORITY_ORDER.index(self)

    def at_least(self, other: Priority | None) -> Priority:
        return self if other is None or self.rank >= other.rank else other


_PRIORITY_ORDER = (Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.URGENT)


@dataclass(frozen=True)
class CriticalPhrases:
    language: str
    reason: Reason
    phrases: tuple[str, ...]


@dataclass(frozen=True)
class SentimentPhrase:
    language: str
    phrase: str
    valence: float


@dataclass(frozen=True)
class Level:
    display_name: str
    required_skills: frozenset[str] = frozenset()
    fall_back_to_any_agent: bool = False


def _default_critical_phrases() -> tuple[CriticalPhrases, ...]:
    return tuple(
        CriticalPhrases(language, reason, phrases)
        for language, by_reason in DEFAULT_CRITICAL_PHRASES.items()
        for reason, phrases in by_reason.items()
    )


def _default_sentiment_phrases() -> tuple[SentimentPhrase, ...]:
    return tuple(SentimentPhrase(*entry) for entry in DEFAULT_SENTIMENT_PHRASES)


DEFAULT_UPGRADES: dict[Reason, Priority] = {
    **dict.fromkeys(CRITICAL_REASONS, Priority.URGENT),
    Reason.NEGATIVE_SENTIMENT: Priority.HIGH,
    Reason.REPEATED_MESSAGES: Priority.HIGH,
    Reason.SLA_BREACH: Priority.HIGH,
}

DEFAULT_LEVELS = (
    Level("agents", fall_back_to_any_agent=True),
    Level("supervisors", frozenset({"supervisor"})),
)


@dataclass(frozen=True)
class Policy:
    version: int = 1
    mode: Mode = Mode.AUTO
    confidence_threshold: float = 0.7
    sentiment_threshold: float = -0.5
    repetition_threshold: int = 3
    languages: tuple[str, ...] = ("en", "pt", "hu")
    critical_phrases: tuple[CriticalPhrases, ...] = field(default_factory=_default_critical_phrases)
    sentiment_phrases: tuple[SentimentPhrase, ...] = field(
        default_factory=_default_sentiment_phrases
    )
    priority_upgrades: tuple[tuple[Reason, Priority], ...] = tuple(DEFAULT_UPGRADES.items())
    levels: tuple[Level, ...] = DEFAULT_LEVELS
    default_agent_capacity: int = 5
    update_actor: str = ""
    update_time: datetime | None = None

    @property
    def etag(self) -> str:
        return weak_etag(self.version)

    def upgrade_for(self, reason: Reason) -> Priority | None:
        return dict(self.priority_upgrades).get(reason)

    def level(self, number: int) -> Level | None:
        """Level `number` (1-based), or None past the last."""
        return self.levels[number - 1] if 1 <= number <= len(self.levels) else None

    @functools.cached_property
    def critical_matcher(self) -> PhraseMatcher:
        return PhraseMatcher(
            PhraseMatch(phrase, group.language, reason=group.reason)
            for group in self.critical_phrases
            for phrase in group.phrases
        )

    @functools.cached_property
    def sentiment_matcher(self) -> PhraseMatcher:
        return PhraseMatcher(
            PhraseMatch(entry.phrase, entry.language, valence=entry.valence)
            for entry in self.sentiment_phrases
        )

    def next_version(self, actor: str, now: datetime, **changes: Any) -> Policy:
        changed = replace(self, **changes, version=self.version + 1)
        return replace(changed, update_actor=actor, update_time=now)

    def validate(self) -> None:
        """Raise InvalidArgument naming every bad field (paths as in the proto)."""
        problems = Violations()
        if not 0.0 <= self.confidence_threshold <= 1.0:
            problems.add("confidence_threshold", "must be between 0 and 1")
        if not -1.0 <= self.sentiment_threshold <= 1.0:
            problems.add("sentiment_threshold", "must be between -1 and 1")
        if not 0 <= self.repetition_threshold <= 1_000:
            problems.add("repetition_threshold", "must be between 0 (off) and 1000")
        if not 1 <= self.default_agent_capacity <= 10_000:
            problems.add("default_agent_capacity", "must be between 1 and 10000")
        if not self.languages:
            problems.add("languages", "needs at least one language")
        for i, language in enumerate(self.languages):
            if language not in LANGUAGE_CODES:
                problems.add(f"languages[{i}]", f"{language!r} is not an ISO 639-1 code")
        count = 0
        for i, group in enumerate(self.critical_phrases):
            where = f"critical_phrases[{i}]"
            if group.language not in LANGUAGE_CODES:
                problems.add(f"{where}.language", "must be an ISO 639-1 code")
            if group.reason not in CRITICAL_REASONS:
                names = ", ".join(r.name for r in CRITICAL_REASONS)
                problems.add(f"{where}.reason", f"must be one of {names}")
            for j, phrase in enumerate(group.phrases):
                count += 1
                _check_phrase(problems, f"{where}.phrases[{j}]", phrase)
        for i, entry in enumerate(self.sentiment_phrases):
            where = f"sentiment_phrases[{i}]"
            count += 1
            if entry.language not in LANGUAGE_CODES:
                problems.add(f"{where}.language", "must be an ISO 639-1 code")
            _check_phrase(problems, f"{where}.phrase", entry.phrase)
            if not -1.0 <= entry.valence <= 1.0:
                problems.add(f"{where}.valence", "must be between -1 and 1")
        if count > MAX_PHRASES:
            problems.add("critical_phrases", f"at most {MAX_PHRASES} phrases in all")
        seen: set[Reason] = set()
        for i, (reason, _priority) in enumerate(self.priority_upgrades):
            if reason in seen:
                problems.add(f"priority_upgrades[{i}].reason", "appears twice")
            seen.add(reason)
        if not 1 <= len(self.levels) <= MAX_LEVELS:
            problems.add("levels", f"needs 1 to {MAX_LEVELS} levels")
        for i, level in enumerate(self.levels):
            check_skills(problems, f"levels[{i}].required_skills", level.required_skills)
        problems.raise_if_any()


def _check_phrase(problems: Violations, where: str, phrase: str) -> None:
    if not phrase.strip():
        problems.add(where, "must not be empty")
    elif len(phrase) > MAX_PHRASE_LENGTH:
        problems.add(where, f"must be at most {MAX_PHRASE_LENGTH} characters")


def check_skills(
    problems: Violations, where: str, skills: frozenset[str] | tuple[str, ...]
) -> None:
    if len(skills) > MAX_SKILLS:
        problems.add(where, f"at most {MAX_SKILLS} skills")
    for skill in skills:
        if not skill or len(skill) > MAX_SKILL_LENGTH or skill != skill.strip().lower():
            problems.add(
                where,
                f"{skill[:MAX_SKILL_LENGTH]!r}: skills are lower-case tags of "
                f"1 to {MAX_SKILL_LENGTH} characters",
            )


def as_record(policy: Policy) -> dict[str, Any]:
    """The policy in JSON form, as stored with each version."""
    return {
        "mode": policy.mode.value,
        "confidence_threshold": policy.confidence_threshold,
        "sentiment_threshold": policy.sentiment_threshold,
        "repetition_threshold": policy.repetition_threshold,
        "languages": list(policy.languages),
        "critical_phrases": [
            {"language": g.language, "reason": g.reason.value, "phrases": list(g.phrases)}
            for g in policy.critical_phrases
        ],
        "sentiment_phrases": [
            {"language": p.language, "phrase": p.phrase, "valence": p.valence}
            for p in policy.sentiment_phrases
        ],
        "priority_upgrades": [[r.value, p.value] for r, p in policy.priority_upgrades],
        "levels": [
            {
                "display_name": level.display_name,
                "required_skills": sorted(level.required_skills),
                "fall_back_to_any_agent": level.fall_back_to_any_agent,
            }
            for level in policy.levels
        ],
        "default_agent_capacity": policy.default_agent_capacity,
    }


def from_record(
    record: dict[str, Any], *, version: int, actor: str, update_time: datetime
) -> Policy:
    return Policy(
        version=version,
        mode=Mode(record["mode"]),
        confidence_threshold=record["confidence_threshold"],
        sentiment_threshold=record["sentiment_threshold"],
        repetition_threshold=record["repetition_threshold"],
        languages=tuple(record["languages"]),
        critical_phrases=tuple(
            CriticalPhrases(g["language"], Reason(g["reason"]), tuple(g["phrases"]))
            for g in record["critical_phrases"]
        ),
        sentiment_phrases=tuple(
            SentimentPhrase(p["language"], p["phrase"], p["valence"])
            for p in record["sentiment_phrases"]
        ),
        priority_upgrades=tuple((Reason(r), Priority(p)) for r, p in record["priority_upgrades"]),
        levels=tuple(
            Level(
                level["display_name"],
                frozenset(level["required_skills"]),
                level["fall_back_to_any_agent"],
            )
            for level in record["levels"]
        ),
        default_agent_capacity=record["default_agent_capacity"],
        update_actor=actor,
        update_time=update_time,
    )
