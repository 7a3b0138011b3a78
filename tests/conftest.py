import socket

import pytest
import torch

import course_utils as cu

# Tests run on tiny tensors, where a second thread costs more than it gives: on the 2-core AMD VM
# tests/test_exercises_nb02.py and nb08.py took 42.8 s with torch's default 2 threads, 4.1 s with one.
# (Notebooks, DDP workers and benchmarks run in their own processes with the default.)
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def tiny_cfg():
    """A model small enough to build in milliseconds, with GPT-2's real vocabulary."""
    return cu.GPTConfig(vocab_size=50257, context_length=32, emb_dim=64, n_heads=4, n_layers=2, drop_rate=0.0)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails loudly."""

    def refuse(*args, **kwargs):
        raise RuntimeError("network access attempted during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
