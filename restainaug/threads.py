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
  instead: now and then a few steps run on one thread and on torch's setting, interleaved,
  and the faster count is used until the next exploration.

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

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

import torch

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
    """Measured thread count for a loop of similar steps (a training run).

    Call `count` before each step and `record` with its duration after it. The policy
    explores now and then: it runs ``trials`` steps on the other count (one thread, or
    ``max_threads``), interleaved with as many on the current one, and keeps the faster
    (several threads must be 20 % faster than one: a near tie goes to one thread). It times
    the real steps because a small stand-in misleads: on an idle 2-core machine a small
    convolution gains little from a second thread where a training step gains 1.6x, and
    under load a short probe now and then runs while both cores happen to be free.
    Explorations come right after the first step, then every ``every`` seconds; each costs
    ``trials`` steps on the slower count (under load on 2 cores, about 5 % of the time).

    Args:
        max_threads: the largest count tried; torch's setting when the policy is made.
        every: seconds between explorations.
        trials: steps per count and exploration (the fastest counts).
        clock: time source (for tests).

    Examples:
        >>> policy = AdaptiveThreads(max_threads=2)
        >>> counts = []
        >>> for seconds in (9.0, 1.0, 2.0, 1.0, 2.0, 2.0):  # one thread is faster here
        ...     counts.append(policy.count())
        ...     policy.record(seconds)
        >>> counts
        [2, 1, 2, 1, 2, 1]
    """

    def __init__(
        self,
        max_threads: int | None = None,
        every: float = 30.0,
        trials: int = 2,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.max_threads = int(max_threads or torch.get_num_threads())
        if self.max_threads < 1:
            raise ValueError(f"max_threads: expected a positive int, got {max_threads!r}.")
        if not every > 0 or trials < 1:
            raise ValueError(f"every must be > 0 and trials >= 1, got {every!r}, {trials!r}.")
        self.every, self.trials, self._clock = float(every), int(trials), clock
        self.choice = self.max_threads
        self._warm = False  # the first step (allocations, caches) is not timed
        self._plan: list[int] = []
        self._times: dict[int, list[float]] = {}
        self._next = float("-inf")

    def count(self) -> int:
        """The thread count for the next step."""
        if self.max_threads == 1:
            return 1
        if self._warm and not self._plan and self._clock() >= self._next:
            other = 1 if self.choice > 1 else self.max_threads
            self._plan = [other, self.choice] * self.trials
            self._times = {other: [], self.choice: []}
        return self._plan[0] if self._plan else self.choice

    def record(self, seconds: float) -> None:
        """The duration of the step just run on the count `count` gave."""
        if not self._warm:
            self._warm = True
            return
        if not self._plan:
            return
        self._times[self._plan.pop(0)].append(float(seconds))
        if not self._plan:
            one, many = min(self._times[1]), min(self._times[self.max_threads])
            self.choice = self.max_threads if many < 0.8 * one else 1
            self._next = self._clock() + self.every
