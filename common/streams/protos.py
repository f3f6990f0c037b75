"""Log entries as protos, converted once for every watcher that sends them.

A commit fans out to every watcher of the tenant; converting its entry for each of them
would cost the server a conversion per watcher per entry. Entries never change, so the
newest few thousand are kept by (tenant, cursor).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from common.streams.log import EntryT

P = TypeVar("P")


class ProtoCache(Generic[EntryT, P]):
    def __init__(self, convert: Callable[[EntryT], P], size: int = 4096) -> None:
        self._convert = convert
        self._size = size
        self._protos: OrderedDict[tuple[str, int], P] = OrderedDict()

    def get(self, tenant: str, entry: EntryT) -> P:
        key = (tenant, entry.cursor)
        proto = self._protos.get(key)
        if proto is None:
            proto = self._protos[key] = self._convert(entry)
            if len(self._protos) > self._size:
                self._protos.popitem(last=False)
        return proto
