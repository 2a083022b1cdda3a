"""How many CPU threads torch may use for a fit or a draw (``Synthesizer(n_threads=...)``).

torch's CPU kernels run on OpenMP threads that spin at the end of each parallel region
waiting for one another. When another process holds some of the cores, one of our threads
is often descheduled, and the others spin until the scheduler gives it back: every small
kernel then costs a time slice. On a 2-core machine, a demo-table fit with torch's default
of 2 threads beside one busy process ran 7 to 26 times slower than with 1 thread
(benchmarks/results/threads.md). So by default a fit, and each sampling call,
uses only the CPUs that are idle when it starts: those this process may run on
(``os.sched_getaffinity``, a cgroup CPU quota) that were idle over a short probe of
``/proc/stat``, never more than ``torch.get_num_threads()``, never fewer than 1. The
setting is restored when the call ends. Elsewhere than Linux, torch's own setting is kept.

torch's CPU results can differ in the last bits between thread counts, so two fits with the
same seed agree exactly only when they ran on as many threads: give ``n_threads`` (or set
``SYNTHVAE_THREADS``) where bit-identical reruns matter on a machine whose load varies.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from synthvae.errors import ConfigError

PROBE_SECONDS = 0.1  # how long /proc/stat is watched: 10 scheduler ticks at 100 Hz
PROBE_REUSE_SECONDS = 5.0  # a probe this recent is reused (back-to-back calls)
IDLE_SLACK = 0.2  # a CPU counts as free when at least 80 % of it was idle
THREADS_ENV = "SYNTHVAE_THREADS"  # pins the default: a fixed count, the same every call
_last_probe: tuple[float, float] | None = None  # (monotonic time, idle CPUs)


def check_n_threads(value) -> int | None:
    """``n_threads`` as given (None or a positive int), else a ConfigError naming it."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"n_threads must be None (the idle CPUs) or a positive int; got "
                         f"{value!r}")
    return value


def quota_cpus() -> float | None:
    """The cgroup CPU quota of this process in CPUs (v2 ``cpu.max`` or v1 CFS), if any."""
    v2 = Path("/sys/fs/cgroup/cpu.max")
    try:
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1 = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        if v1.exists():
            quota = int(v1.read_text())
            period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
            return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None
    return None


def usable_cpus() -> set[int] | None:
    """The CPUs this process may run on, or None where the platform does not say."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def cpu_times(cpus: set[int], stat: Path = Path("/proc/stat")) -> tuple[int, int] | None:
    """(idle, total) scheduler ticks summed over ``cpus`` from /proc/stat, or None."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    idle = total = 0
    for line in lines:
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
            continue
        ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
        idle += ticks[3] + ticks[4]
        total += sum(ticks)
    return (idle, total) if total else None


def idle_cpus(cpus: set[int], seconds: float = PROBE_SECONDS) -> float | None:
    """How many of ``cpus`` were idle over the next ``seconds`` (this process sleeps)."""
    before = cpu_times(cpus)
    if before is None:
        return None
    time.sleep(seconds)
    after = cpu_times(cpus)
    if after is None or after[1] <= before[1]:
        return None
    return len(cpus) * (after[0] - before[0]) / (after[1] - before[1])


def auto_threads() -> int | None:
    """The threads a call should use now: idle usable CPUs, within the quota and torch's
    setting; None where they cannot be read (torch's setting is then kept)."""
    global _last_probe
    pinned = os.environ.get(THREADS_ENV)
    if pinned:
        # isdigit alone takes '²', which int() does not
        if not (pinned.isascii() and pinned.isdigit()) or int(pinned) < 1:
            raise ConfigError(f"{THREADS_ENV} must be a positive number of CPU threads; got "
                              f"{pinned!r}.")
        return int(pinned)
    if torch.get_num_threads() <= 1:
        return 1  # nothing to choose: no probe (it sleeps PROBE_SECONDS)
    cpus = usable_cpus()
    if cpus is None:
        return None
    if len(cpus) <= 1:
        return 1
    now = time.monotonic()
    if _last_probe is not None and now - _last_probe[0] < PROBE_REUSE_SECONDS:
        idle = _last_probe[1]
    else:
        idle = idle_cpus(cpus)
        if idle is None:
            return None
        _last_probe = (now, idle)
    free = math.floor(idle + IDLE_SLACK)
    quota = quota_cpus()
    if quota is not None:
        free = min(free, math.floor(quota + IDLE_SLACK))
    return max(1, min(free, torch.get_num_threads()))


def chosen_threads(n_threads: int | None) -> int | None:
    """``n_threads`` checked (it may have been set since the last fit, or after a load), or
    :func:`auto_threads` when it is None."""
    return check_n_threads(n_threads) if n_threads is not None else auto_threads()


@contextmanager
def cpu_threads(n_threads: int | None):
    """Run the block with ``n_threads`` torch threads (None: :func:`auto_threads`), and
    restore torch's setting after it."""
    chosen = chosen_threads(n_threads)
    previous = torch.get_num_threads()
    if chosen is None or chosen == previous:
        yield previous
        return
    torch.set_num_threads(chosen)
    try:
        yield chosen
    finally:
        torch.set_num_threads(previous)


def threaded(frames, n_threads: int | None):
    """Iterate ``frames`` computing each item with :func:`cpu_threads` (chosen and checked
    once), and torch's own setting between items, while the caller has them."""
    chosen = chosen_threads(n_threads)
    return each_within(frames, lambda: cpu_threads(
        chosen if chosen is not None else torch.get_num_threads()))


def each_within(items, context):
    """Iterate ``items`` computing each inside a fresh ``context()`` (a context manager), and
    outside it between items, while the caller has them (a lazy stream of sampled frames)."""
    iterator = iter(items)
    while True:
        with context():
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item
