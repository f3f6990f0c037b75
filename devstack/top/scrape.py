"""One read of a Prometheus endpoint, and the arithmetic Prometheus does over two of them:
increases that survive a restart, rates, quantiles from histogram buckets."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]
Key = tuple[str, ...]


@dataclass(frozen=True)
class Scrape:
    """The samples one endpoint served, or why it served none (`error`)."""

    url: str
    at: float  # time.monotonic() when the answer came
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)
    error: str | None = None

    @property
    def up(self) -> bool:
        return self.error is None

    def sum_by(self, name: str, by: Iterable[str] = (), **match: str) -> dict[Key, float]:
        """Like PromQL's `sum by (by) (name{match})`: the series' values added up per
        combination of the `by` labels (a label a series lacks counts as "")."""
        by = tuple(by)
        wanted = frozenset(match.items())
        sums: dict[Key, float] = {}
        for (sample_name, labels), value in self.samples.items():
            if sample_name != name or not wanted <= labels:
                continue
            named = dict(labels)
            key = tuple(named.get(label, "") for label in by)
            sums[key] = sums.get(key, 0.0) + value
        return sums

    def total(self, name: str, **match: str) -> float:
        return self.sum_by(name, **match).get((), 0.0)


def parse(text: str) -> dict[tuple[str, Labels], float]:
    """The text exposition format's samples, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(http: httpx.AsyncClient, url: str) -> Scrape:
    """GET `url`; a refused connection, a timeout, an HTTP error or a body that is not the
    text format is an `error`, never an exception."""
    try:
        answer = await http.get(url)
        answer.raise_for_status()
        samples = parse(answer.text)
    except httpx.ConnectError:
        return Scrape(url, time.monotonic(), error="connection refused")
    except httpx.TimeoutException:
        return Scrape(url, time.monotonic(), error="timed out")
    except httpx.HTTPStatusError as error:
        return Scrape(url, time.monotonic(), error=f"HTTP {error.response.status_code}")
    except httpx.HTTPError as error:
        return Scrape(url, time.monotonic(), error=type(error).__name__)
    except ValueError as error:
        return Scrape(url, time.monotonic(), error=f"not the Prometheus text format: {error}")
    return Scrape(url, time.monotonic(), samples)


@dataclass(frozen=True)
class Window:
    """Two scrapes of one endpoint. Rates need both up; `after` alone gives the totals."""

    before: Scrape
    after: Scrape

    @property
    def seconds(self) -> float:
        return self.after.at - self.before.at

    @property
    def has_rates(self) -> bool:
        return self.before.up and self.after.up and self.seconds > 0

    def increase(self, name: str, by: Iterable[str] = (), **match: str) -> dict[Key, float]:
        """Each group's increase; a counter that went down was reset by a restart, so all of
        its current value is new (Prometheus's rule)."""
        by = tuple(by)
        before = self.before.sum_by(name, by, **match)
        increases = {}
        for key, now in self.after.sum_by(name, by, **match).items():
            then = before.get(key, 0.0)
            increases[key] = now - then if now >= then else now
        return increases

    def rate(self, name: str, by: Iterable[str] = (), **match: str) -> dict[Key, float]:
        """Per second over the window; empty unless both scrapes are up."""
        if not self.has_rates:
            return {}
        return {
            key: value / self.seconds for key, value in self.increase(name, by, **match).items()
        }

    def quantile(
        self, q: float, histogram: str, by: Iterable[str] = (), **match: str
    ) -> dict[Key, float]:
        """Like `histogram_quantile(q, sum by (by, le) (increase(histogram_bucket[...])))`:
        per group with observations in the window, interpolated inside the bucket the
        quantile falls in; in the +Inf bucket, the highest finite bound."""
        if not self.has_rates:
            return {}
        by = tuple(by)
        buckets: dict[Key, list[tuple[float, float]]] = {}
        for key, count in self.increase(f"{histogram}_bucket", (*by, "le"), **match).items():
            buckets.setdefault(key[:-1], []).append((float(key[-1]), count))
        return {
            key: value
            for key, counts in buckets.items()
            if (value := bucket_quantile(q, counts)) is not None
        }


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The q-quantile of cumulative (upper bound, count) buckets; None with no observations."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for upper_bound, count in buckets:
        if count >= rank:
            if math.isinf(upper_bound):
                return lower_bound
            if count == lower_count:
                return upper_bound
            return lower_bound + (upper_bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = upper_bound, count
    return lower_bound
