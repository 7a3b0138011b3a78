"""Keep glibc's malloc from handing big tensors back to the kernel after every step.

A training step on the CPU allocates a few tensors far larger than anything else: the logits and
their gradients are batch x context x 50,257 floats (16 x 64 x 50,257 x 4 bytes = 206 MB for
``--preset class``). glibc serves every block above its mmap threshold (128 KiB, rising as it
adapts to at most 32 MiB) with a fresh ``mmap`` and ``munmap``s it on ``free``, so every step the
kernel maps and zero-fills those pages again, one minor page fault per 4 KiB page: about 200,000
faults a step for ``--preset class``, a quarter to a third of its CPU time spent in the kernel
(benchmarks/bench_allocator.py measures it).

``tune_allocator()`` tells malloc never to use ``mmap`` for a block (``M_MMAP_MAX = 0``: big blocks
come from the heap) and to keep freed memory at the top of its heap (``M_TRIM_THRESHOLD``) instead
of returning it: later steps reuse the pages of the first ones and the faults stop. The price: a
heap does not give back the holes between live blocks, so the process keeps what its largest steps
touched until it exits, and its peak resident memory is higher (``--preset class``: 1.6 GiB instead
of 1.1 GiB).

The same settings from the environment, for a process started with them (they also reach the
allocations made while Python and torch start up)::

    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=4294967296 python -m course_utils.train

Only Linux with glibc has these knobs; everywhere else (macOS, Windows, musl) this does nothing.
``COURSE_NO_MALLOC_TUNING=1`` switches it off.
"""

from __future__ import annotations

import ctypes
import os
import sys

OFF_SWITCH = "COURSE_NO_MALLOC_TUNING"

# mallopt(3) parameter numbers, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

# mallopt takes a C int: keep up to 2 GiB of freed memory at the top of the heap.
TRIM_THRESHOLD = 2**31 - 1


def _glibc():
    """The running process's C library if it is glibc with ``mallopt``, else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded into this process
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only (not musl)
        libc.mallopt  # noqa: B018 - int mallopt(int param, int value): ctypes' default conversions
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def tune_allocator() -> bool:
    """Make glibc's malloc keep and reuse the memory of big tensors (see the module docstring).

    Returns True when this call put the settings in force, False when it changed nothing: not Linux
    with glibc, ``COURSE_NO_MALLOC_TUNING`` set to anything but "" or "0", or mallopt refused. Call
    it as often as you like: the settings are the same each time. It never raises.
    """
    try:
        if os.environ.get(OFF_SWITCH, "") not in ("", "0"):
            return False
        libc = _glibc()
        if libc is None:
            return False
        # mallopt returns 1 when it takes a value, 0 when it refuses one.
        return libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    except Exception:  # a speed-up must never stop a training run
        return False
