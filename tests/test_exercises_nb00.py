"""The notebook-00 checker accepts the worked solution, reports the stub as not implemented, and names
each classic miscount."""

import pytest

import course_utils as cu
from course_utils.exercises import check_parameter_count, nb00


def solution(cfg):
    d, n = cfg.emb_dim, cfg.n_layers
    attention = 3 * (d * d + (d if cfg.qkv_bias else 0)) + d * d + d
    feed_forward = d * 4 * d + 4 * d + 4 * d * d + d
    layer_norms = 2 * 2 * d
    embeddings = cfg.vocab_size * d + cfg.context_length * d
    return embeddings + n * (attention + feed_forward + layer_norms) + 2 * d


def stub(cfg):
    raise NotImplementedError("your code here")


def test_solution_passes(capsys):
    assert check_parameter_count(solution)
    assert capsys.readouterr().out.startswith("✅ parameter_count: all 6 checks passed")


def test_solution_matches_a_real_model():
    cfg = cu.GPTConfig(vocab_size=300, context_length=16, emb_dim=24, n_heads=3, n_layers=2, qkv_bias=False)
    assert solution(cfg) == cu.count_parameters(cu.GPTModel(cfg))["tied"]


def test_stub_is_not_implemented(capsys):
    assert not check_parameter_count(stub)
    assert capsys.readouterr().out.startswith("⏳ parameter_count: not implemented yet")


WRONG = [
    ("untied head", lambda cfg: solution(cfg) + cfg.vocab_size * cfg.emb_dim, "ties it to the token embedding"),
    ("always qkv bias", lambda cfg: solution(cfg.replace(qkv_bias=True)), "only when cfg.qkv_bias is True"),
    ("never qkv bias", lambda cfg: solution(cfg.replace(qkv_bias=False)), "the Q, K, V biases are missing"),
    ("no positions", lambda cfg: solution(cfg) - cfg.context_length * cfg.emb_dim, "positional embedding"),
    ("no final LayerNorm", lambda cfg: solution(cfg) - 2 * cfg.emb_dim, "final LayerNorm"),
    ("one LayerNorm per block", lambda cfg: solution(cfg) - cfg.n_layers * 2 * cfg.emb_dim, "one LayerNorm per block"),
    ("LayerNorm weights only", lambda cfg: solution(cfg) - (2 * cfg.n_layers + 1) * cfg.emb_dim, "weights only"),
    ("no feed-forward biases", lambda cfg: solution(cfg) - cfg.n_layers * 5 * cfg.emb_dim, "feed-forward biases"),
    ("hidden layer emb_dim wide", lambda cfg: solution(cfg) - cfg.n_layers * (6 * cfg.emb_dim**2 + 3 * cfg.emb_dim),
     "4 x emb_dim"),
    ("no output projection", lambda cfg: solution(cfg) - cfg.n_layers * (cfg.emb_dim**2 + cfg.emb_dim),
     "output projection"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in WRONG], ids=[w[0] for w in WRONG])
def test_names_the_mistake(capsys, wrong, fragment):
    assert not check_parameter_count(wrong)
    out = capsys.readouterr().out
    assert out.startswith("❌ parameter_count") and "it looks like" in out and fragment in out


def test_unknown_miscount_is_shown_as_integers(capsys):
    assert not check_parameter_count(lambda cfg: solution(cfg) + 7)
    assert "got 124,439,815, expected 124,439,808 (+7)" in capsys.readouterr().out


def test_non_numbers_and_crashes_are_reported_not_raised(capsys):
    assert not check_parameter_count(lambda cfg: str(solution(cfg)))
    assert "expected a whole number, got the text" in capsys.readouterr().out
    assert not check_parameter_count(lambda cfg: solution(cfg) + 0.5)
    assert "expected a whole number" in capsys.readouterr().out
    assert not check_parameter_count(lambda cfg: cfg.nonexistent)
    assert "raised AttributeError" in capsys.readouterr().out
    assert not check_parameter_count(None)
    assert "expected a function" in capsys.readouterr().out


@pytest.mark.parametrize("mistake", nb00._MISTAKES, ids=[m.hint[:40] for m in nb00._MISTAKES])
def test_every_mistake_is_recognised(capsys, mistake):
    assert not check_parameter_count(mistake.fn)
    assert f"it looks like {mistake.hint}" in capsys.readouterr().out
