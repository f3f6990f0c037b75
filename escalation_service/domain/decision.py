"""The escalation decision: signals held against the tenant's policy, with the reasons
written down. Pure: the caller reads the text and counts the messages; this only decides.

Rules, strongest first (the first that fires names the decision):
1. `critical_reason`: a critical phrase matched, or an AI reported a critical reason.
2. `confidence_below_threshold`: an AI's answer confidence is below the threshold.
3. `sentiment_below_threshold`: the sentiment is at or below the threshold.
4. `repeated_messages`: the customer wrote N messages in a row with no agent reply.
The priority is raised to the highest upgrade among every rule that fired, not just the
first: an angry legal threat is URGENT even if anger alone would be HIGH.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from escalation_service.domain.policy import Policy, Priority
from escalation_service.domain.reasons import CRITICAL_REASONS, Reason
from escalation_service.domain.sentiment import SentimentReading
from escalation_service.domain.sla_clock import Fired, FireKind
from escalation_service.domain.text import PhraseMatch


class SignalKind(StrEnum):
    SENTIMENT = "sentiment"
    AI_CONFIDENCE = "ai_confidence"
    CRITICAL_PHRASE = "critical_phrase"
    REPETITION = "repetition"
    MANUAL = "manual"
    SLA = "sla"


@dataclass(frozen=True)
class Signal:
    kind: SignalKind
    value: float
    threshold: float
    fired: bool
    detail: str = ""
    reason: Reason | None = None


@dataclass(frozen=True)
class Explanation:
    signals: tuple[Signal, ...]
    rule: str
    summary: str
    policy_version: int
    language: str = ""

    def as_record(self) -> dict[str, object]:
        return {
            "signals": [
                {
                    "kind": s.kind.value,
                    "value": s.value,
                    "threshold": s.threshold,
                    "fired": s.fired,
                    "detail": s.detail,
                    "reason": s.reason.value if s.reason else None,
                }
                for s in self.signals
            ],
            "rule": self.rule,
            "summary": self.summary,
            "policy_version": self.policy_version,
            "language": self.language,
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> Explanation:
        signals = record["signals"]
        assert isinstance(signals, list)
        return cls(
            signals=tuple(
                Signal(
                    kind=SignalKind(s["kind"]),
                    value=float(s["value"]),
                    threshold=float(s["threshold"]),
                    fired=bool(s["fired"]),
                    detail=str(s["detail"]),
                    reason=Reason(s["reason"]) if s["reason"] else None,
                )
                for s in signals
            ),
            rule=str(record["rule"]),
            summary=str(record["summary"]),
            policy_version=int(str(record["policy_version"])),
            language=str(record.get("language", "")),
        )


@dataclass(frozen=True)
class Decision:
    escalate: bool
    reason: Reason | None
    priority: Priority | None  # the least priority the ticket should have; None: no change
    explanation: Explanation


@dataclass(frozen=True)
class Evidence:
    """What is known about one customer message or AI answer."""

    sentiment: SentimentReading | None = None
    critical: Sequence[PhraseMatch] = ()
    confidence: float | None = None
    ai_sentiment: float | None = None
    ai_reason: Reason | None = None
    customer_streak: int | None = None


def decide(policy: Policy, evidence: Evidence) -> Decision:
    signals: list[Signal] = []
    fired: list[tuple[str, Reason, str]] = []  # (rule, reason, summary)

    critical = _critical_signals(evidence)
    signals.extend(critical)
    for signal in critical:
        assert signal.reason is not None
        fired.append(
            (
                "critical_reason",
                signal.reason,
                f"Critical reason {signal.reason.value}: {signal.detail}.",
            )
        )

    if evidence.confidence is not None:
        low = evidence.confidence < policy.confidence_threshold
        signals.append(
            Signal(
                SignalKind.AI_CONFIDENCE,
                evidence.confidence,
                policy.confidence_threshold,
                low,
                "reported by the AI service",
            )
        )
        if low:
            fired.append(
                (
                    "confidence_below_threshold",
                    Reason.LOW_CONFIDENCE,
                    f"AI confidence {evidence.confidence:.2f} is below "
                    f"{policy.confidence_threshold:.2f}.",
                )
            )

    sentiment, source = _sentiment(evidence)
    if sentiment is not None:
        negative = sentiment <= policy.sentiment_threshold
        signals.append(
            Signal(SignalKind.SENTIMENT, sentiment, policy.sentiment_threshold, negative, source)
        )
        if negative:
            fired.append(
                (
                    "sentiment_below_threshold",
                    Reason.NEGATIVE_SENTIMENT,
                    f"Sentiment {sentiment:.2f} ({source}) is at or below "
                    f"{policy.sentiment_threshold:.2f}.",
                )
            )

    if evidence.customer_streak is not None and policy.repetition_threshold > 0:
        repeated = evidence.customer_streak >= policy.repetition_threshold
        signals.append(
            Signal(
                SignalKind.REPETITION,
                float(evidence.customer_streak),
                float(policy.repetition_threshold),
                repeated,
                "customer messages since the last agent reply",
            )
        )
        if repeated:
            fired.append(
                (
                    "repeated_messages",
                    Reason.REPEATED_MESSAGES,
                    f"{evidence.customer_streak} customer messages with no agent reply.",
                )
            )

    language = evidence.sentiment.language if evidence.sentiment else ""
    if not fired:
        explanation = Explanation(tuple(signals), "", "No rule fired.", policy.version, language)
        return Decision(False, None, None, explanation)
    rule, reason, _ = fired[0]
    summary = " ".join(text for _, _, text in fired)
    priority: Priority | None = None
    for _, fired_reason, _ in fired:
        upgrade = policy.upgrade_for(fired_reason)
        if upgrade is not None:
            priority = upgrade.at_least(priority)
    explanation = Explanation(tuple(signals), rule, summary, policy.version, language)
    return Decision(True, reason, priority, explanation)


def manual_decision(policy: Policy, reason: Reason, actor: str, comment: str) -> Decision:
    """A person's decision: recorded with the same shape, so every escalation explains
    itself the same way."""
    detail = f"escalated by {actor}" + (f": {comment}" if comment else "")
    signal = Signal(SignalKind.MANUAL, 1.0, 0.0, True, detail, reason)
    summary = f"Escalated by {actor} ({reason.value})."
    explanation = Explanation((signal,), "manual", summary, policy.version)
    return Decision(True, reason, policy.upgrade_for(reason), explanation)


def sla_decision(policy: Policy, fired: Sequence[Fired]) -> Decision:
    """An SLA clock's breach or further level: one signal per clock that fired, so a ticket
    breaching two targets at once is escalated once, with both named."""
    signals = tuple(
        Signal(SignalKind.SLA, 1.0, 1.0, True, _sla_detail(f), Reason.SLA_BREACH) for f in fired
    )
    summary = "SLA breached: " + "; ".join(signal.detail for signal in signals) + "."
    explanation = Explanation(signals, "sla_breach", summary, policy.version)
    return Decision(True, Reason.SLA_BREACH, policy.upgrade_for(Reason.SLA_BREACH), explanation)


def _sla_detail(fired: Fired) -> str:
    metric = fired.metric.value.replace("_", " ")
    due = f"{fired.due_time:%Y-%m-%d %H:%M} UTC"
    if fired.kind is FireKind.LEVEL:
        return f"{metric} still overdue, level {fired.level} due {due}"
    return f"{metric} target passed at {due}"


def _critical_signals(evidence: Evidence) -> list[Signal]:
    signals: list[Signal] = []
    seen: set[Reason] = set()
    if evidence.ai_reason in CRITICAL_REASONS:
        assert evidence.ai_reason is not None
        seen.add(evidence.ai_reason)
        signals.append(
            Signal(
                SignalKind.CRITICAL_PHRASE,
                1.0,
                0.0,
                True,
                "reported by the AI service",
                evidence.ai_reason,
            )
        )
    for match in evidence.critical:
        if match.reason is None or match.reason in seen:
            continue
        seen.add(match.reason)
        signals.append(
            Signal(
                SignalKind.CRITICAL_PHRASE,
                1.0,
                0.0,
                True,
                f'matched "{match.phrase}" ({match.language})',
                match.reason,
            )
        )
    return signals


def _sentiment(evidence: Evidence) -> tuple[float | None, str]:
    if evidence.ai_sentiment is not None:
        return evidence.ai_sentiment, "reported by the AI service"
    if evidence.sentiment is not None and evidence.sentiment.language:
        reading = evidence.sentiment
        return reading.score, f"{reading.analyzer}, {reading.language}"
    return None, ""
