"""CPU time per thread of this process, grouped by the threads' OS names (Linux /proc).

The package names the OS threads it starts (`name_this_thread`), so a soak can say how much of
a core the perception worker, the camera and the rest (executor, DDS) each took.
"""

from __future__ import annotations

import ctypes
import os
import re
from collections import Counter
from pathlib import Path

_PR_SET_NAME = 15
_TICKS = os.sysconf("SC_CLK_TCK")


def name_this_thread(name: str) -> None:
    """Give the calling thread an OS name (at most 15 bytes; best effort)."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        pass


def thread_cpu_seconds(pid: int | str = "self") -> Counter:
    """User + system CPU seconds per thread name, summed over the threads of each name (digits
    at the end of a name dropped, so pools of threads add up); running threads only."""
    totals: Counter = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        # comm is in parentheses and may hold spaces; the fields after it are fixed.
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        totals[re.sub(r"[-_.]?\d+$", "", name) or name] += \
            (int(fields[11]) + int(fields[12])) / _TICKS
    return totals


def process_cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds of the whole process, threads that have ended included."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS
