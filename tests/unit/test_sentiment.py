"""Sentiment from the real lexicons (VADER, LeIA, phrases) and from a real HTTP service."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import structlog
from pydantic import SecretStr

from common.config import Tenant
from common.logging import configure_logging
from escalation_service.adapters.sentiment import HttpAnalyzer, LexiconAnalyzer, analyzer_for
from escalation_service.domain.default_phrases import DEFAULT_SENTIMENT_PHRASES
from escalation_service.domain.text import PhraseMatch, PhraseMatcher, sentiment_phrases

LANGUAGES = ("en", "pt", "hu")
DEFAULTS = PhraseMatcher(sentiment_phrases(DEFAULT_SENTIMENT_PHRASES))
TOKEN = "sentiment-service-token-0123456789"

ANGRY_EN = "This is absolutely terrible, the worst service ever. I am furious and disgusted!"
CALM_EN = "Thanks a lot, the new dashboard works great and your team was very helpful."
ANGRY_PT = "Isso é um absurdo! Péssimo atendimento, estou furioso e muito decepcionado."
ANGRY_HU = "Ez felháborító és elfogadhatatlan, már harmadszor írok a hibás számla miatt!"


@pytest.fixture(scope="module")
def lexicon() -> LexiconAnalyzer:
    analyzer = LexiconAnalyzer()
    analyzer.warm_up()
    return analyzer


async def test_an_angry_english_message_reads_negative_with_vader(
    lexicon: LexiconAnalyzer,
) -> None:
    reading = await lexicon.analyze(ANGRY_EN, languages=LANGUAGES, phrases=DEFAULTS)
    assert (reading.language, reading.analyzer) == ("en", "vader")
    assert reading.score <= -0.5
    assert reading.phrases == ()


async def test_a_calm_english_message_reads_positive(lexicon: LexiconAnalyzer) -> None:
    reading = await lexicon.analyze(CALM_EN, languages=LANGUAGES, phrases=DEFAULTS)
    assert (reading.language, reading.analyzer) == ("en", "vader")
    assert reading.score > 0


async def test_an_angry_portuguese_message_reads_negative_with_leia(
    lexicon: LexiconAnalyzer,
) -> None:
    reading = await lexicon.analyze(ANGRY_PT, languages=LANGUAGES, phrases=DEFAULTS)
    assert (reading.language, reading.analyzer) == ("pt", "leia")
    assert reading.score <= -0.5


async def test_an_angry_hungarian_message_reads_negative_from_phrases_alone(
    lexicon: LexiconAnalyzer,
) -> None:
    reading = await lexicon.analyze(ANGRY_HU, languages=LANGUAGES, phrases=DEFAULTS)
    assert (reading.language, reading.analyzer) == ("hu", "phrases")
    assert [p.phrase for p in reading.phrases] == ["felháborító", "elfogadhatatlan"]
    assert reading.score == -1.0  # -0.8 - 0.7, clamped

    without_phrases = await lexicon.analyze(
        ANGRY_HU, languages=LANGUAGES, phrases=PhraseMatcher([])
    )
    assert (without_phrases.language, without_phrases.score) == ("hu", 0.0)


async def test_a_tenant_phrase_moves_the_score(lexicon: LexiconAnalyzer) -> None:
    text = "I am still waiting for order 12345 to arrive."
    tenant = PhraseMatch("still waiting", "en", valence=-0.4)
    base = await lexicon.analyze(text, languages=LANGUAGES, phrases=DEFAULTS)
    extended = PhraseMatcher([*sentiment_phrases(DEFAULT_SENTIMENT_PHRASES), tenant])
    reading = await lexicon.analyze(text, languages=LANGUAGES, phrases=extended)
    assert reading.score == pytest.approx(base.score - 0.4)
    assert reading.phrases == (tenant,)


async def test_phrases_of_another_language_do_not_count(lexicon: LexiconAnalyzer) -> None:
    phrases = PhraseMatcher([PhraseMatch("dashboard", "pt", valence=-0.9)])
    reading = await lexicon.analyze(CALM_EN, languages=LANGUAGES, phrases=phrases)
    assert reading.language == "en"
    assert reading.phrases == ()


async def test_detection_picks_only_among_the_tenants_languages(
    lexicon: LexiconAnalyzer,
) -> None:
    spanish = "Estoy muy enojado con ustedes, el servicio es horrible y nadie me responde."
    reading = await lexicon.analyze(spanish, languages=("en", "hu"), phrases=DEFAULTS)
    assert reading.language in {"en", "hu"}


@pytest.mark.parametrize(
    ("text", "languages", "expected"),
    [
        ("Obrigado", ("en", "pt"), "en"),  # too short to detect: the first language
        ("ok", ("pt", "en"), "pt"),
        ("Köszönöm szépen!", ("en", "hu"), "hu"),  # unless a phrase says otherwise
    ],
)
async def test_short_messages_take_the_first_language_unless_a_phrase_says_otherwise(
    lexicon: LexiconAnalyzer, text: str, languages: tuple[str, ...], expected: str
) -> None:
    reading = await lexicon.analyze(text, languages=languages, phrases=DEFAULTS)
    assert reading.language == expected


async def test_a_message_without_words_reads_neutral(lexicon: LexiconAnalyzer) -> None:
    reading = await lexicon.analyze(" ?! ", languages=LANGUAGES, phrases=DEFAULTS)
    assert (reading.score, reading.language, reading.analyzer) == (0.0, "", "none")


async def test_languages_must_not_be_empty(lexicon: LexiconAnalyzer) -> None:
    with pytest.raises(ValueError, match="at least one"):
        await lexicon.analyze(ANGRY_EN, languages=(), phrases=DEFAULTS)


# A real HTTP service, in a thread.


@dataclass
class FakeService:
    url: str = ""
    status: int = 200
    body: bytes = b'{"score": 0.2, "language": "en"}'
    delay: float = 0.0
    received: list[tuple[str | None, object]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def service() -> Iterator[FakeService]:
    fake = FakeService()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            fake.received.append(
                (self.headers.get("Authorization"), json.loads(self.rfile.read(length)))
            )
            if fake.delay:
                fake.stop.wait(fake.delay)
            try:
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(fake.body)))
                self.end_headers()
                self.wfile.write(fake.body)
            except OSError:
                pass  # the client gave up waiting

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/sentiment"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


def http_analyzer(
    url: str, lexicon: LexiconAnalyzer, client: httpx.AsyncClient | None = None
) -> HttpAnalyzer:
    return HttpAnalyzer(url, token=SecretStr(TOKEN), timeout=0.5, fallback=lexicon, client=client)


async def test_the_service_scores_and_tenant_phrases_add_to_it(
    service: FakeService, lexicon: LexiconAnalyzer
) -> None:
    phrases = PhraseMatcher([PhraseMatch("dashboard", "en", valence=-0.5)])
    reading = await http_analyzer(service.url, lexicon).analyze(
        CALM_EN, languages=["en", "pt"], phrases=phrases
    )
    assert reading.analyzer == "http:127.0.0.1"
    assert reading.language == "en"
    assert reading.score == pytest.approx(0.2 - 0.5)
    assert [p.phrase for p in reading.phrases] == ["dashboard"]
    assert service.received == [(f"Bearer {TOKEN}", {"text": CALM_EN, "languages": ["en", "pt"]})]


async def test_a_shared_client_and_no_token(service: FakeService, lexicon: LexiconAnalyzer) -> None:
    async with httpx.AsyncClient() as client:
        analyzer = HttpAnalyzer(service.url, token=None, timeout=1, fallback=lexicon, client=client)
        for _ in range(2):
            reading = await analyzer.analyze(CALM_EN, languages=LANGUAGES, phrases=DEFAULTS)
            assert (reading.analyzer, reading.score) == ("http:127.0.0.1", 0.2)
    assert [authorization for authorization, _ in service.received] == [None, None]


@pytest.mark.parametrize(
    ("status", "body", "delay"),
    [
        pytest.param(500, b'{"score": 0.2, "language": "en"}', 0.0, id="500"),
        pytest.param(302, b'{"score": 0.2, "language": "en"}', 0.0, id="redirect"),
        pytest.param(200, b"<html>oops</html>", 0.0, id="garbage"),
        pytest.param(200, b'{"score": "-0.2", "language": "en"}', 0.0, id="score-as-string"),
        pytest.param(200, b'{"score": -1.5, "language": "en"}', 0.0, id="out-of-range"),
        pytest.param(200, b'{"score": -0.5}', 0.0, id="no-language"),
        pytest.param(200, b'{"score": 0.2, "language": "en"}', 2.0, id="slow"),
    ],
)
async def test_a_failing_service_falls_back_to_the_lexicons(
    service: FakeService, lexicon: LexiconAnalyzer, status: int, body: bytes, delay: float
) -> None:
    service.status, service.body, service.delay = status, body, delay
    reading = await http_analyzer(service.url, lexicon).analyze(
        ANGRY_EN, languages=LANGUAGES, phrases=DEFAULTS
    )
    expected = await lexicon.analyze(ANGRY_EN, languages=LANGUAGES, phrases=DEFAULTS)
    assert reading.analyzer == "vader+fallback"
    assert (reading.score, reading.language) == (expected.score, expected.language)


async def test_an_unreachable_service_falls_back(lexicon: LexiconAnalyzer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reading = await http_analyzer(f"http://127.0.0.1:{port}/", lexicon).analyze(
        ANGRY_PT, languages=LANGUAGES, phrases=DEFAULTS
    )
    assert (reading.analyzer, reading.language) == ("leia+fallback", "pt")


async def test_neither_the_token_nor_the_text_is_ever_logged(
    service: FakeService,
    lexicon: LexiconAnalyzer,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    configure_logging(level="DEBUG", json=True)
    try:
        analyzer = http_analyzer(service.url, lexicon)  # made here: logs with this config
        await analyzer.analyze(ANGRY_EN, languages=LANGUAGES, phrases=DEFAULTS)
        service.status = 500
        await analyzer.analyze(ANGRY_EN, languages=LANGUAGES, phrases=DEFAULTS)
        service.status, service.delay = 200, 2.0
        await analyzer.analyze(ANGRY_EN, languages=LANGUAGES, phrases=DEFAULTS)
    finally:
        structlog.reset_defaults()
    logged = capsys.readouterr().err + caplog.text
    warnings = [json.loads(line) for line in logged.splitlines() if "sentiment_service" in line]
    assert [(w["error"], w["status"]) for w in warnings] == [
        ("HTTPStatusError", 500),
        ("TimeoutError", None),
    ]
    assert all(w["analyzer"] == "http:127.0.0.1" for w in warnings)
    assert TOKEN not in logged
    assert "furious" not in logged
    assert TOKEN not in repr(analyzer)


def test_a_tenant_gets_its_own_service_only_when_it_configures_one(
    lexicon: LexiconAnalyzer,
) -> None:
    plain = {"id": "acme", "api_tokens": [{"principal": "tester", "token": "x" * 16}]}
    assert analyzer_for(Tenant.model_validate(plain), lexicon) is lexicon

    configured = Tenant.model_validate(
        {
            **plain,
            "sentiment_analyzer": {
                "url": "https://sentiment.example.com/v1/score",
                "token": TOKEN,
                "timeout_seconds": 1.5,
            },
        }
    )
    analyzer = analyzer_for(configured, lexicon)
    assert isinstance(analyzer, HttpAnalyzer)
    assert analyzer.name == "http:sentiment.example.com"
