"""A small thread-safe server-side cache for frames the app shows.

Dash callbacks must not keep state in module globals; the app factory builds
one :class:`FrameCache` per app (or takes one injected by the caller) and the
callbacks reach it through the app context. Keys include the dataset's manifest
``updated`` stamp, so a new append invalidates the cached views of a dataset.

Examples
--------
>>> cache = FrameCache(max_items=2)
>>> cache.get_or_compute(("a",), lambda: 1)
1
>>> cache.get_or_compute(("a",), lambda: 2)   # cached
1
>>> cache.stats()["hits"]
1
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from workbench.errors import ParameterError

__all__ = ["FrameCache"]

T = TypeVar("T")


class FrameCache:
    """Least-recently-used cache of computed values, safe across request threads.

    Parameters
    ----------
    max_items : int
        Entries kept; the least recently used is dropped beyond this.
    """

    def __init__(self, max_items: int = 64) -> None:
        if max_items < 1:
            raise ParameterError("max_items", allowed="an integer >= 1", received=max_items)
        self.max_items = max_items
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self._hits = 0
        self._misses = 0

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Return the cached value for ``key``, computing it once if absent.

        Concurrent callers with the same key wait for one computation.
        """
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self._hits += 1
                return self._items[key]  # type: ignore[no-any-return]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    self._hits += 1
                    return self._items[key]  # type: ignore[no-any-return]
                self._misses += 1
            value = compute()
            with self._lock:
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.max_items:
                    self._items.popitem(last=False)
                self._key_locks.pop(key, None)
            return value

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._items.clear()

    def stats(self) -> dict[str, int]:
        """Hits, misses and current size."""
        with self._lock:
            return {"hits": self._hits, "misses": self._misses, "size": len(self._items)}
