"""CPU thread policy: never oversubscribe the cores the transform shares with training.

torch runs each CPU operation on ``torch.get_num_threads()`` threads (all cores by default).
On a 256x256 tile the operations are small, so a multi-threaded call is a long chain of short
parallel regions, each ending at a barrier. When other processes (a training step, data
loader workers, anything) keep the cores busy, every barrier waits for a descheduled thread:
measured on a 2-core machine with two busy processes, a tile took 1.7 s with torch's default
threads against 51-61 ms with one. Two policies avoid that:

* `threads_for` (used by `restainaug.RestainTransform` and the commands built on it): the
  thread count of a CPU call follows from its size only, one thread per `PIXELS_PER_THREAD`
  pixels of the batch, at most torch's setting. A tile or a small batch runs on one thread,
  whatever torch's setting, so its output does not depend on that setting or on the load;
  only batches of several megapixels use more. `cpu_threads` applies a count for the
  duration of a call and restores torch's setting afterwards.
* `AdaptiveThreads` (used by ``restainaug train`` with ``run.threads: auto``): a training
  step is large enough for threads to pay off on an idle machine, so the count is measured
  instead: every 30 seconds, a short probe (small convolutions) is timed on one thread and
  on torch's setting, and the faster count is used until the next probe.

Examples:
    >>> threads_for(256 * 256, limit=8)
    1
    >>> threads_for(64 * 512 * 512, limit=8)
    8
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with cpu_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["PIXELS_PER_THREAD", "AdaptiveThreads", "ThreadSetting", "cpu_threads", "threads_for"]

#: Pixels of a batch (summed over samples) per CPU thread of one transform call.
PIXELS_PER_THREAD = 1 << 20

#: What users pass: ``"auto"`` (the library's policy), a fixed count, or ``None`` (leave
#: torch's global setting alone).
ThreadSetting = int | Literal["auto"] | None


def check_threads(value: object, name: str = "threads") -> ThreadSetting:
    """``value`` if it is a valid `ThreadSetting`, else a clear error."""
    if value is None or value == "auto":
        return value  # type: ignore[return-value]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected 'auto', a positive int or None, got {value!r}.")
    if value < 1:
        raise ValueError(f"{name}: expected 'auto', a positive int or None, got {value!r}.")
    return value


def threads_for(pixels: int, limit: int | None = None) -> int:
    """Threads for a CPU call on ``pixels`` pixels: one per `PIXELS_PER_THREAD`, in ``[1, limit]``.

    Args:
        pixels: pixels of the whole batch (batch size x height x width).
        limit: the most threads to use; torch's current setting when ``None``.
    """
    limit = torch.get_num_threads() if limit is None else limit
    return max(1, min(int(limit), int(pixels) // PIXELS_PER_THREAD))


def resolve(setting: ThreadSetting, pixels: int) -> int | None:
    """The thread count a call on ``pixels`` pixels runs with (``None``: torch's setting)."""
    if setting is None:
        return None
    if setting == "auto":
        return threads_for(pixels)
    return int(setting)


@contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block on ``n`` torch CPU threads and restore the previous setting afterwards.

    ``None`` (or the current count) changes nothing. The setting is process-wide: do not
    share one process between threads that run torch with different counts.
    """
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class AdaptiveThreads:
    """Measured thread count for a long CPU loop (a training run).

    Every ``every`` seconds, `count` times ``repeats`` small convolutions on one thread, then
    on ``max_threads``, and returns the faster count; between probes it returns the last
    choice. On an idle machine several threads win; when other processes keep the cores
    busy, multi-threaded barriers stall and one thread wins. The several-thread run stops as
    soon as it has lost (one stalled barrier can cost tens of milliseconds), so a probe
    costs about twice the one-thread run: a few tens of milliseconds.

    A probe sums many short calls instead of taking the median of a few: under load a short
    call sometimes runs while both cores happen to be free, so single calls mislead.

    Args:
        max_threads: the largest count tried; torch's setting when the policy is made.
        every: seconds between probes.
        repeats: timed calls per candidate and probe.
        clock: time source (for tests).

    Examples:
        >>> policy = AdaptiveThreads(max_threads=1)
        >>> policy.count()
        1
    """

    def __init__(
        self,
        max_threads: int | None = None,
        every: float = 30.0,
        repeats: int = 20,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.max_threads = int(max_threads or torch.get_num_threads())
        if self.max_threads < 1:
            raise ValueError(f"max_threads: expected a positive int, got {max_threads!r}.")
        if not every > 0 or repeats < 1:
            raise ValueError(f"every must be > 0 and repeats >= 1, got {every!r}, {repeats!r}.")
        self.every, self.repeats, self._clock = float(every), int(repeats), clock
        self.choice = self.max_threads
        self._next = float("-inf")
        self._wins = 0
        self._x = torch.rand(1, 16, 96, 96, generator=torch.Generator().manual_seed(0))
        self._w = torch.rand(16, 16, 3, 3, generator=torch.Generator().manual_seed(1)) / 144

    def _run(self, n: int, limit: float = math.inf) -> float:
        """Seconds for ``repeats`` calls on ``n`` threads (stopping once past ``limit``)."""
        with cpu_threads(n), torch.no_grad():
            F.conv2d(self._x, self._w, padding=1)  # warm the thread pool
            start = self._clock()
            elapsed = 0.0
            for _ in range(self.repeats):
                F.conv2d(F.conv2d(self._x, self._w, padding=1), self._w, padding=1)
                elapsed = self._clock() - start
                if elapsed >= limit:
                    break
        return elapsed

    def probe(self) -> int:
        """Measure now and return the count to use until the next probe.

        One lost probe switches to one thread; switching back takes two won probes in a row,
        since under load a short probe now and then runs while both cores happen to be free.
        """
        if self.max_threads > 1:
            # Threads must earn their keep: several must be 20 % faster than one.
            limit = 0.8 * self._run(1)
            won = self._run(self.max_threads, limit) < limit
            self._wins = self._wins + 1 if won else 0
            keep = self.choice == self.max_threads or self._next == float("-inf")
            self.choice = self.max_threads if won and (keep or self._wins >= 2) else 1
        self._next = self._clock() + self.every
        return self.choice

    def count(self) -> int:
        """The count to use now (probing when the last probe is ``every`` seconds old)."""
        if self._clock() >= self._next:
            return self.probe()
        return self.choice
