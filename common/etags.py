"""Etags from a row's version, and the check that makes a change conditional on one.

A resource's version rises by one with every change, so its etag is just that number.
An empty etag from the caller means "whatever the current version is".
"""

from __future__ import annotations

from common.errors import Aborted, excerpt


def strong_etag(version: int) -> str:
    return f'"{version}"'


def weak_etag(version: int) -> str:
    # Weak (RFC 9110): equal versions mean equal meaning, not byte-equal representations.
    return f'W/"{version}"'


def check_etag(sent: str, current: str) -> None:
    """ABORTED, with the current etag in the error's metadata, when `sent` is stale."""
    if sent and sent.strip() != current:
        raise Aborted(
            f"etag {excerpt(sent)} is stale; the resource is now at {current}",
            current_etag=current,
        )
