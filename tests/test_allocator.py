"""course_utils.allocator.tune_allocator: never raises, does nothing off Linux/glibc or when switched
off, and (on glibc) stops a big tensor's pages being faulted in again every time it is reallocated."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import allocator
from course_utils.allocator import M_MMAP_MAX, M_TRIM_THRESHOLD, OFF_SWITCH, tune_allocator

REPO = Path(__file__).resolve().parent.parent
GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


class FakeLibc:
    """Stands in for the C library: records mallopt calls, answers ``answer``."""

    def __init__(self, answer=1, glibc=True):
        self.calls, self.answer = [], answer
        if glibc:
            self.gnu_get_libc_version = lambda: b"2.36"

    def mallopt(self, param, value):
        self.calls.append((param, value))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def fake_libc(monkeypatch):
    """Put a FakeLibc where tune_allocator looks for the C library, on a pretend Linux."""

    def install(libc):
        monkeypatch.setattr(allocator.sys, "platform", "linux")
        monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: libc)
        monkeypatch.delenv(OFF_SWITCH, raising=False)
        return libc

    return install


def test_applies_both_settings_and_is_idempotent(fake_libc):
    libc = fake_libc(FakeLibc())
    assert tune_allocator() is True
    assert tune_allocator() is True
    expected = [(M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, allocator.TRIM_THRESHOLD)]
    assert libc.calls == expected * 2  # the same two settings each time, nothing else
    assert 2**30 <= allocator.TRIM_THRESHOLD <= 2**31 - 1  # keeps a big step's memory; fits mallopt's C int


@pytest.mark.parametrize("value", ["1", "yes", "true"])
def test_off_switch_leaves_the_allocator_alone(fake_libc, monkeypatch, value):
    libc = fake_libc(FakeLibc())
    monkeypatch.setenv(OFF_SWITCH, value)
    assert tune_allocator() is False
    assert libc.calls == []


def test_off_switch_set_to_0_or_empty_leaves_it_on(fake_libc, monkeypatch):
    libc = fake_libc(FakeLibc())
    for value in ("0", ""):
        monkeypatch.setenv(OFF_SWITCH, value)
        assert tune_allocator() is True
    assert len(libc.calls) == 4


@pytest.mark.parametrize("plat", ["darwin", "win32", "cygwin"])
def test_nothing_off_linux(fake_libc, monkeypatch, plat):
    libc = fake_libc(FakeLibc())
    monkeypatch.setattr(allocator.sys, "platform", plat)
    assert tune_allocator() is False
    assert libc.calls == []


def test_nothing_on_musl(fake_libc):
    libc = fake_libc(FakeLibc(glibc=False))  # musl has mallopt (a no-op) but no gnu_get_libc_version
    assert tune_allocator() is False
    assert libc.calls == []


@pytest.mark.parametrize("error", [OSError("no libc"), TypeError("CDLL(None) on Windows")])
def test_no_c_library(monkeypatch, error):
    def refuse(name):
        raise error

    monkeypatch.setattr(allocator.sys, "platform", "linux")
    monkeypatch.setattr(allocator.ctypes, "CDLL", refuse)
    monkeypatch.delenv(OFF_SWITCH, raising=False)
    assert tune_allocator() is False


@pytest.mark.parametrize("answer", [0, RuntimeError("mallopt failed")])
def test_refused_or_failing_mallopt_is_false_not_an_error(fake_libc, answer):
    libc = fake_libc(FakeLibc(answer=answer))
    assert tune_allocator() is False
    assert libc.calls  # it did try


CHILD = """
import resource, sys
import torch
from course_utils.allocator import tune_allocator
applied = tune_allocator() and tune_allocator()  # a real call, twice: never raises
torch.empty(1).fill_(0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    t = torch.empty(50_000_000)  # 200 MB of float32: more than glibc's 32 MiB mmap limit
    t.fill_(1.0)                 # touch every page
    del t
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def minor_faults(off: bool) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != OFF_SWITCH}
    if off:
        env[OFF_SWITCH] = "1"
    out = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    applied, faults = out.stdout.split()
    return applied, int(faults)


@pytest.mark.slow  # a fresh process that faults in 200 MB buffers (about 12 s)
@pytest.mark.skipif(not GLIBC, reason="mallopt tuning exists only on Linux with glibc")
def test_big_tensor_reallocated_without_page_faults():
    pages = 200_000_000 // os.sysconf("SC_PAGE_SIZE")  # one minor fault per page touched
    applied_off, faults_off = minor_faults(off=True)
    applied_on, faults_on = minor_faults(off=False)
    assert (applied_off, applied_on) == ("False", "True")  # off switch honoured; glibc found
    assert faults_off > 8 * pages, f"untuned: {faults_off} faults; expected every one of the 10 tensors to fault"
    assert faults_on < faults_off / 2, f"tuned: {faults_on} minor faults, untuned: {faults_off}"
