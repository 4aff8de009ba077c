"""A minimal progress display for long commands (no dependency; tqdm is used when installed)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

__all__ = ["progress"]


def progress(items: Iterable[T], total: int, desc: str, enabled: bool = True) -> Iterator[T]:
    """Yield ``items`` while showing ``desc``, a count, the rate and the time left on stderr.

    Uses ``tqdm`` when it is installed; otherwise rewrites one line at most twice a second.
    Shows nothing when ``enabled`` is false.
    """
    if not enabled:
        yield from items
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        yield from tqdm(items, total=total, desc=desc, unit="it")
        return
    start = last = time.perf_counter()
    done, shown = 0, False
    try:
        for item in items:
            yield item
            done += 1
            now = time.perf_counter()
            if now - last > 0.5 or done == total:
                rate = done / max(now - start, 1e-9)
                left = (total - done) / rate if rate > 0 else 0.0
                sys.stderr.write(f"\r{desc}: {done}/{total} ({rate:.1f}/s, {left:.0f} s left)")
                sys.stderr.flush()
                last, shown = now, True
    finally:
        # Also when the caller stops early (Ctrl-C, an error): end the progress line, so
        # that what is printed next starts on a line of its own.
        if shown:
            sys.stderr.write("\n")
