"""Sentiment analyzers: lexicons in-process, or a tenant's own HTTP service.

`LexiconAnalyzer` detects the language among the tenant's languages, then scores English
with VADER and Portuguese with LeIA; other languages score 0 from a lexicon, so their
sentiment comes from phrases alone (Hungarian has its defaults). `HttpAnalyzer` asks a
tenant's service instead and falls back to the lexicons whenever that service fails.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx
import structlog
from py3langid.langid import MODEL_FILE, LanguageIdentifier  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped]
    SentimentIntensityAnalyzer as VaderAnalyzer,
)

from common.config import Tenant
from escalation_service.domain.sentiment import SentimentAnalyzer, SentimentReading, with_phrases
from escalation_service.domain.text import PhraseMatch, PhraseMatcher, normalize

with warnings.catch_warnings():
    # LeIA reads its word lists at import without closing the files; harmless, but the
    # ResourceWarning is an error wherever warnings are (as in our tests).
    warnings.simplefilter("ignore", ResourceWarning)
    from LeIA.leia import SentimentIntensityAnalyzer as LeiaAnalyzer  # type: ignore[import-untyped]

# Below this many words py3langid guesses more than it detects ("ok", "obrigado", a name).
MIN_WORDS_TO_DETECT = 3


@dataclass(frozen=True)
class _Loaded:
    identifier: Any  # every language the model knows; never restricted itself
    labels: frozenset[str]  # those languages
    vader: Any
    leia: Any


class _Models:
    """The language model and the two lexicons, loaded once per process (~0.7 s, nearly
    all of it py3langid's model) and shared by every analyzer and thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._restricted: dict[tuple[str, ...], Any] = {}

    @property
    def ready(self) -> bool:
        return self._loaded is not None

    def get(self) -> _Loaded:
        with self._lock:
            if self._loaded is None:
                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                self._loaded = _Loaded(
                    identifier=identifier,
                    labels=frozenset(identifier.labels),
                    vader=VaderAnalyzer(),
                    leia=LeiaAnalyzer(),
                )
            return self._loaded

    def identifier_for(self, languages: tuple[str, ...]) -> Any:
        """An identifier choosing among `languages` only. `set_languages` changes the
        identifier it is called on, so each set gets its own, built from the shared model
        arrays (restricting copies just the chosen languages' columns)."""
        base = self.get().identifier
        with self._lock:
            identifier = self._restricted.get(languages)
            if identifier is None:
                identifier = LanguageIdentifier(
                    base.nb_ptc,
                    base.nb_pc,
                    base.nb_classes,
                    base.tk_nextmove,
                    base.tk_output,
                    norm_probs=True,
                    tk_row=base.tk_row,
                )
                identifier.set_languages(languages)
                self._restricted[languages] = identifier
            return identifier


_MODELS = _Models()


class LexiconAnalyzer:
    """VADER for English, LeIA for Portuguese, phrases for the rest. One per process."""

    def warm_up(self) -> None:
        """Load the models now rather than on the first message. Blocks ~0.7 s: from async
        code, `await asyncio.to_thread(analyzer.warm_up)`."""
        _MODELS.get()

    async def analyze(
        self, text: str, *, languages: Sequence[str], phrases: PhraseMatcher
    ) -> SentimentReading:
        candidates = tuple(dict.fromkeys(languages))
        if not candidates:
            raise ValueError("languages must name at least one language")
        words = normalize(text).split()
        if not words:
            return SentimentReading(score=0.0, language="", analyzer="none")
        if not _MODELS.ready:
            # Only when nobody called warm_up: the load must not stall the event loop.
            await asyncio.to_thread(self.warm_up)
        models = _MODELS.get()
        matches = phrases.find(text)
        language = self._language(text, len(words), candidates, matches, models.labels)
        if language == "en":
            lexicon, name = float(models.vader.polarity_scores(text)["compound"]), "vader"
        elif language == "pt":
            lexicon, name = float(models.leia.polarity_scores(text)["compound"]), "leia"
        else:
            lexicon, name = 0.0, "phrases"
        return with_phrases(lexicon, language, name, matches)

    def _language(
        self,
        text: str,
        word_count: int,
        candidates: tuple[str, ...],
        matches: Sequence[PhraseMatch],
        known: frozenset[str],
    ) -> str:
        # Languages the model does not know can't be detected, only defaulted to.
        detectable = tuple(sorted(c for c in candidates if c in known))
        if word_count < MIN_WORDS_TO_DETECT or len(detectable) < 2:
            # A phrase of one of the tenant's languages is better evidence than a guess.
            hinted = (m.language for m in matches if m.language in candidates)
            return next(hinted, candidates[0])
        language, _ = _MODELS.identifier_for(detectable).classify(text)
        return str(language)


class _ExternalReading(BaseModel):
    model_config = ConfigDict(strict=True)

    score: float = Field(ge=-1.0, le=1.0, allow_inf_nan=False)
    language: str


class _BearerToken(httpx.Auth):
    """Sets the Authorization header; the only place the token is unwrapped, so no local
    variable (shown in a traceback with locals) or header dict of ours ever holds it."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "_BearerToken(**********)"


class HttpAnalyzer:
    """A tenant's own sentiment service: POST `{"text", "languages"}`, answer
    `{"score": -1..1, "language": "xx"}`. Whatever goes wrong, `fallback` answers instead.

    Without `client`, each call opens and closes its own connection; pass a shared client
    to reuse connections. Either way the timeout bounds the whole call, not each phase.
    """

    def __init__(
        self,
        url: str,
        *,
        token: SecretStr | None,
        timeout: float,
        fallback: SentimentAnalyzer,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = url
        # The bare `httpx.Auth` sends no credentials, even where a shared client has some.
        self._auth = _BearerToken(token) if token is not None else httpx.Auth()
        self._timeout = timeout
        self._fallback = fallback
        self._client = client
        self.name = f"http:{httpx.URL(url).host}"
        self._log = structlog.get_logger(__name__).bind(analyzer=self.name)

    def __repr__(self) -> str:
        return f"HttpAnalyzer({self.name!r})"

    async def analyze(
        self, text: str, *, languages: Sequence[str], phrases: PhraseMatcher
    ) -> SentimentReading:
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._ask(text, languages)
        except (httpx.HTTPError, TimeoutError, ValidationError) as failure:
            # The kind of failure and the status only: an error's text may quote the
            # request, and the message text is the customer's.
            status = (
                failure.response.status_code if isinstance(failure, httpx.HTTPStatusError) else None
            )
            self._log.warning(
                "sentiment_service_failed", error=type(failure).__name__, status=status
            )
            reading = await self._fallback.analyze(text, languages=languages, phrases=phrases)
            return replace(reading, analyzer=f"{reading.analyzer}+fallback")
        language = answer.language.strip().lower()
        return with_phrases(answer.score, language, self.name, phrases.find(text))

    async def _ask(self, text: str, languages: Sequence[str]) -> _ExternalReading:
        if self._client is None:
            async with httpx.AsyncClient() as client:
                return await self._post(client, text, languages)
        return await self._post(self._client, text, languages)

    async def _post(
        self, client: httpx.AsyncClient, text: str, languages: Sequence[str]
    ) -> _ExternalReading:
        # Redirects are not followed: the token header would go along to wherever it points.
        response = await client.post(
            self._url,
            json={"text": text, "languages": list(languages)},
            auth=self._auth,
            timeout=self._timeout,
            follow_redirects=False,
        )
        response.raise_for_status()
        return _ExternalReading.model_validate_json(response.content)


def analyzer_for(
    tenant: Tenant, lexicon: LexiconAnalyzer, *, client: httpx.AsyncClient | None = None
) -> SentimentAnalyzer:
    """The tenant's own service when it configures one (the lexicons as its fallback),
    else the lexicons."""
    config = tenant.sentiment_analyzer
    if config is None:
        return lexicon
    return HttpAnalyzer(
        str(config.url),
        token=config.token,
        timeout=config.timeout_seconds,
        fallback=lexicon,
        client=client,
    )
