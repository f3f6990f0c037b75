"""Normalizing text and finding critical and sentiment phrases in it."""

from __future__ import annotations

import pytest

from escalation_service.domain.default_phrases import (
    DEFAULT_CRITICAL_PHRASES,
    DEFAULT_SENTIMENT_PHRASES,
)
from escalation_service.domain.reasons import CRITICAL_REASONS, Reason
from escalation_service.domain.text import (
    PhraseMatch,
    PhraseMatcher,
    critical_phrases,
    normalize,
    sentiment_phrases,
)

DEFAULTS = PhraseMatcher(
    critical_phrases(DEFAULT_CRITICAL_PHRASES) + sentiment_phrases(DEFAULT_SENTIMENT_PHRASES)
)


def matcher(*phrases: str, language: str = "en") -> PhraseMatcher:
    return PhraseMatcher(PhraseMatch(p, language, reason=Reason.LEGAL_THREAT) for p in phrases)


def found(m: PhraseMatcher, text: str) -> list[str]:
    return [match.phrase for match in m.find(text)]


def reasons(text: str) -> set[Reason]:
    return {m.reason for m in DEFAULTS.critical_matches(text) if m.reason is not None}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Vou PROCESSAR vocês!! ", "vou processar voces"),
        ("Ő és Ű, ő és ű: őrült fűnyíró", "o es u o es u orult funyiro"),
        ("I\u2019ll sue\u2014you...", "i ll sue you"),
        ("snake_case\ttabs\nnewline 😡 42", "snake case tabs newline 42"),
        ("Straße", "strasse"),
        ("?!  ...", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_only_whole_words_match() -> None:
    m = matcher("sue", "court")
    assert found(m, "I have an issue, of course") == []
    assert found(m, "We'll sue. See you in court!") == ["sue", "court"]


def test_accents_and_case_do_not_matter_either_way() -> None:
    assert found(matcher("processar", language="pt"), "Vou PROCESSAR vocês!") == ["processar"]
    # Configured with accents, written without, and the other way round.
    assert found(matcher("ügyvéd", language="hu"), "Hivom az UGYVED-et") == ["ügyvéd"]
    assert found(matcher("ugyved", language="hu"), "az ügyvéd") == ["ugyved"]
    assert found(matcher("pénzemet vissza", language="hu"), "PENZEMET VISSZA") == [
        "pénzemet vissza"
    ]


def test_multi_word_phrases_match_across_any_punctuation_and_spacing() -> None:
    m = matcher("legal action")
    assert found(m, "...LEGAL\n\n   action!") == ["legal action"]
    assert found(m, "legal-action") == ["legal action"]
    assert found(m, "legal reaction") == []


def test_every_distinct_phrase_once_in_text_order() -> None:
    m = matcher("court", "lawyer", "refund")
    text = "Refund now or my lawyer sees you in court; my lawyer!"
    assert found(m, text) == ["refund", "lawyer", "court"]


def test_a_longer_phrase_wins_over_the_shorter_one_inside_it() -> None:
    m = matcher("processar", "vou processar", language="pt")
    assert found(m, "Vou processar vocês") == ["vou processar"]
    assert found(m, "vão processar") == ["processar"]


def test_a_later_entry_overrides_an_earlier_one_for_the_same_phrase() -> None:
    m = PhraseMatcher(
        [PhraseMatch("csalás", "hu", valence=-0.8), PhraseMatch("CSALAS", "hu", valence=-0.3)]
    )
    assert m.find("ez csalás") == [PhraseMatch("CSALAS", "hu", valence=-0.3)]


def test_the_same_phrase_in_two_languages_reports_both() -> None:
    m = PhraseMatcher([PhraseMatch("chargeback", "en"), PhraseMatch("chargeback", "pt")])
    assert [x.language for x in m.find("chargeback!")] == ["en", "pt"]


def test_an_empty_matcher_finds_nothing_and_a_phrase_without_letters_is_refused() -> None:
    assert PhraseMatcher([]).find("anything") == []
    with pytest.raises(ValueError, match="no letters"):
        PhraseMatcher([PhraseMatch("?!", "en")])


def test_only_critical_reasons_and_sane_valences_make_entries() -> None:
    with pytest.raises(ValueError, match="sla_breach"):
        critical_phrases({"en": {Reason.SLA_BREACH: ("late",)}})
    with pytest.raises(ValueError, match="between -1 and 1"):
        sentiment_phrases([("en", "meh", -2.0)])


def test_critical_and_sentiment_matches_are_told_apart() -> None:
    text = "Azonnal kérem a pénzemet vissza, ez csalás!"
    assert [m.reason for m in DEFAULTS.critical_matches(text)] == [Reason.REFUND_DEMAND]
    assert DEFAULTS.sentiment_matches(text, "hu") == [PhraseMatch("csalás", "hu", valence=-0.8)]
    assert DEFAULTS.sentiment_matches(text, "en") == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I will sue you and get my lawyer involved", Reason.LEGAL_THREAT),
        ("Vou processar vocês, isso é um absurdo!", Reason.LEGAL_THREAT),
        ("Vou entrar na justiça e no Procon.", Reason.LEGAL_THREAT),
        ("Ha nem oldják meg, ügyvédhez fordulok.", Reason.LEGAL_THREAT),
        ("Azonnal kérem a pénzemet vissza, ez csalás!", Reason.REFUND_DEMAND),
        ("I want my money back, or I'll file a chargeback.", Reason.REFUND_DEMAND),
        ("Quero o estorno da cobrança.", Reason.REFUND_DEMAND),
        ("Please cancel my subscription today.", Reason.CANCELLATION),
        ("Quero cancelar a minha assinatura.", Reason.CANCELLATION),
        ("Elegem van, lemondom az előfizetést.", Reason.CANCELLATION),
        ("The charger caught fire on my desk", Reason.SAFETY),
        ("Levei um choque elétrico do aparelho", Reason.SAFETY),
        ("Gázszag van a lakásban a készülék óta", Reason.SAFETY),
        ("Let me talk to a human, please", Reason.HUMAN_REQUESTED),
        ("Quero falar com um atendente", Reason.HUMAN_REQUESTED),
        ("Élő emberrel szeretnék beszélni!", Reason.HUMAN_REQUESTED),
    ],
)
def test_the_defaults_catch_critical_messages(text: str, reason: Reason) -> None:
    assert reason in reasons(text)


@pytest.mark.parametrize(
    "text",
    [
        "I have an issue with my invoice",
        "Can you help me cancel the meeting invite?",
        "My Fire TV stick does not show the app",
        "Sue from your team already helped me, thanks!",
        "O sistema não consegue processar o pagamento",
        "Preciso cancelar o pedido 123, veio errado",
        "A számlámon rossz a cím, kérem javítsák",
    ],
)
def test_the_defaults_leave_ordinary_messages_alone(text: str) -> None:
    assert reasons(text) == set()


def test_the_defaults_cover_every_critical_reason_in_every_language() -> None:
    assert set(DEFAULT_CRITICAL_PHRASES) == {"en", "pt", "hu"}
    for by_reason in DEFAULT_CRITICAL_PHRASES.values():
        assert set(by_reason) == set(CRITICAL_REASONS)
        assert all(len(phrases) >= 5 for phrases in by_reason.values())
