"""The notebook-00 checker accepts the worked solution and rejects the stub and plausible mistakes."""

import course_utils as cu
from course_utils.exercises import check_parameter_count


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


def test_untied_head_is_rejected_with_a_hint(capsys):
    assert not check_parameter_count(lambda cfg: solution(cfg) + cfg.vocab_size * cfg.emb_dim)
    out = capsys.readouterr().out
    assert out.startswith("❌ parameter_count, case 1") and "ties it to the token embedding" in out


def test_always_counting_qkv_bias_is_rejected(capsys):
    assert not check_parameter_count(lambda cfg: solution(cfg.replace(qkv_bias=True)))
    out = capsys.readouterr().out
    assert "❌" in out and "qkv_bias" in out


def test_missing_positional_embedding_is_rejected(capsys):
    assert not check_parameter_count(lambda cfg: solution(cfg) - cfg.context_length * cfg.emb_dim)
    assert "positional embedding" in capsys.readouterr().out


def test_non_numbers_and_crashes_are_reported_not_raised(capsys):
    assert not check_parameter_count(lambda cfg: str(solution(cfg)))
    assert "expected a whole number" in capsys.readouterr().out
    assert not check_parameter_count(lambda cfg: cfg.nonexistent)
    assert "raised AttributeError" in capsys.readouterr().out
    assert not check_parameter_count(None)
    assert "expected a function" in capsys.readouterr().out
