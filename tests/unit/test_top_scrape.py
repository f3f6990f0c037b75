"""`make top`'s arithmetic over two scrapes: what Prometheus's increase() and
histogram_quantile() would answer."""

from __future__ import annotations

import pytest

from devstack.top.scrape import Scrape, Window, bucket_quantile, parse


def scrape(at: float, text: str) -> Scrape:
    return Scrape("http://example/metrics", at, parse(text))


def deliveries(applied: float, duplicate: float) -> str:
    return (
        "# TYPE d counter\n"
        f'd_total{{integration="a",event="x",outcome="applied"}} {applied}\n'
        f'd_total{{integration="a",event="y",outcome="applied"}} {applied}\n'
        f'd_total{{integration="a",event="x",outcome="duplicate"}} {duplicate}\n'
    )


def test_rates_sum_by_the_labels_asked_for() -> None:
    window = Window(scrape(10.0, deliveries(5, 1)), scrape(12.0, deliveries(9, 1)))

    assert window.rate("d_total", ("outcome",)) == {("applied",): 4.0, ("duplicate",): 0.0}
    assert window.after.sum_by("d_total", ("outcome",), event="x") == {
        ("applied",): 9.0,
        ("duplicate",): 1.0,
    }


def test_a_counter_that_went_down_was_restarted_and_all_of_it_is_new() -> None:
    window = Window(scrape(0.0, deliveries(50, 7)), scrape(1.0, deliveries(3, 0)))

    assert window.increase("d_total", ("outcome",)) == {("applied",): 6.0, ("duplicate",): 0.0}


def test_no_rates_unless_both_scrapes_answered() -> None:
    down = Scrape("http://example/metrics", 0.0, error="connection refused")
    window = Window(down, scrape(1.0, deliveries(3, 0)))

    assert not window.has_rates
    assert window.rate("d_total") == {}
    assert window.after.total("d_total") == 6.0


def test_quantiles_interpolate_inside_the_bucket_like_histogram_quantile() -> None:
    # 100 observations: 90 under 10 ms, 9 more under 50 ms, 1 under 100 ms.
    buckets = [(0.01, 90.0), (0.05, 99.0), (0.1, 100.0), (float("inf"), 100.0)]

    assert bucket_quantile(0.5, buckets) == pytest.approx(0.01 * 50 / 90)
    assert bucket_quantile(0.99, buckets) == 0.05
    assert bucket_quantile(0.995, buckets) == pytest.approx(0.075)
    # Beyond the last finite bound, the bound is all that is known.
    assert bucket_quantile(0.99, [(0.1, 1.0), (float("inf"), 10.0)]) == 0.1
    assert bucket_quantile(0.99, [(0.1, 0.0), (float("inf"), 0.0)]) is None


def test_quantiles_over_the_window_only() -> None:
    def histogram(fast: int, slow: int) -> str:
        return (
            "# TYPE h histogram\n"
            f'h_bucket{{svc="s",le="0.01"}} {fast}\n'
            f'h_bucket{{svc="s",le="1.0"}} {fast + slow}\n'
            f'h_bucket{{svc="s",le="+Inf"}} {fast + slow}\n'
            f'h_count{{svc="s"}} {fast + slow}\n'
            f'h_sum{{svc="s"}} 0\n'
        )

    # Slow calls before the window; only fast ones in it.
    window = Window(scrape(0.0, histogram(0, 500)), scrape(1.0, histogram(100, 500)))

    assert window.quantile(0.99, "h", ("svc",)) == {("s",): pytest.approx(0.0099)}
