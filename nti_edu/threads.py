"""CPU threads on a shared machine: how many PyTorch uses, and how idle ones wait.

PyTorch's CPU kernels run on an OpenMP pool, by default one thread per core of the machine, and OpenMP's
default wait policy lets a thread that finished its share spin (busy-wait) for the others at the end of
every parallel kernel. Alone on the machine that is fastest. Beside another busy process it is a disaster:
each kernel waits for a thread that the scheduler has given away, while the waiting threads burn the cores
the others need (measured on a 2-core machine: `nti-edu invert` 7.5 s alone, 195 s next to one busy 2-thread
torch process; see benchmarks/contention.md).

The policy, applied by ``configure()`` when ``nti_edu`` is imported (so before torch starts its pool, when
nti_edu is imported first, as the ``nti-edu`` command does):

1. ``OMP_WAIT_POLICY=PASSIVE`` unless it is set: idle OpenMP threads sleep instead of spinning;
2. ``OMP_NUM_THREADS`` = the CPUs this process may actually use, unless it is set: the affinity mask
   (``taskset``, ``docker --cpuset-cpus``) and the cgroup CPU quota (``docker --cpus``, Kubernetes limits),
   not the machine's core count.

Both must be in the environment before torch's OpenMP runtime starts, which happens when torch is imported.
If torch was imported first (a notebook's ``import torch`` above ``import nti_edu``), they come too late:
set them before starting Python or Jupyter (``OMP_WAIT_POLICY=PASSIVE jupyter lab``), or call
``torch.set_num_threads(1)`` on a machine you share. ``NTI_EDU_THREADS=N`` picks N threads;
``NTI_EDU_THREADS=off`` leaves the environment and torch exactly as they are.
"""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

ENV = "NTI_EDU_THREADS"  # "off", or a number of threads
CGROUP = Path("/sys/fs/cgroup")


def parse_cpu_max(text: str) -> int | None:
    """CPUs allowed by a cgroup v2 ``cpu.max`` ("QUOTA PERIOD" in microseconds, or "max PERIOD"), rounded up;
    None when unlimited or unreadable."""
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return max(1, math.ceil(quota / period)) if quota > 0 and period > 0 else None


def cgroup_cpus(root: Path = CGROUP) -> int | None:
    """The CPU quota of this process's cgroup (v2: its own ``cpu.max``, else the root's; v1: cfs_quota_us over
    cfs_period_us), or None when there is none."""
    try:
        own = Path(open("/proc/self/cgroup").read().split("0::", 1)[1].split("\n", 1)[0].lstrip("/"))
    except (OSError, IndexError):
        own = Path()
    for path in (root / own / "cpu.max", root / "cpu.max"):
        if path.is_file():
            return parse_cpu_max(path.read_text())
    try:
        v1 = root / "cpu"
        text = f"{(v1 / 'cpu.cfs_quota_us').read_text()} {(v1 / 'cpu.cfs_period_us').read_text()}"
    except OSError:
        return None
    return parse_cpu_max(text.replace("-1", "max", 1) if text.startswith("-1") else text)


def available_cpus() -> int:
    """The CPUs this process may use: its affinity mask, capped by its cgroup's quota."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cpus()
    return max(1, min(count, quota) if quota else count)


def thread_count(value) -> int:
    """A number of threads: a whole number >= 1, or a ValueError that says so."""
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if count < 1 or str(value).strip() != str(count):
        raise ValueError(f"the number of CPU threads must be a whole number >= 1, got {value!r}")
    return count


def configure(environ=os.environ) -> dict:
    """Apply the policy of this module's docstring to ``environ``; return what it set (empty if nothing)."""
    choice = environ.get(ENV, "").strip()
    if choice.lower() == "off":
        return {}
    try:
        count = thread_count(choice) if choice else available_cpus()
    except ValueError as err:
        raise ValueError(f"{ENV}={choice!r} in the environment: {err}; or 'off' to leave torch's threads "
                         "alone") from None
    wanted = {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(count)}
    if choice:  # an explicit NTI_EDU_THREADS wins over an inherited OMP_NUM_THREADS
        environ.pop("OMP_NUM_THREADS", None)
    done = {k: v for k, v in wanted.items() if k not in environ}
    environ.update(done)
    return done


def set_threads(count: int, environ=os.environ) -> None:
    """Use ``count`` CPU threads from now on (the CLI's ``--threads``): in the environment, for torch not yet
    imported and for child processes, and in torch if it is imported already."""
    count = thread_count(count)
    environ["OMP_NUM_THREADS"] = environ["MKL_NUM_THREADS"] = str(count)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(count)


def torch_first() -> bool:
    """True when torch was imported before nti_edu: the policy came too late for its OpenMP pool."""
    return _TORCH_FIRST


_TORCH_FIRST = "torch" in sys.modules
