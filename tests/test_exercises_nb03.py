"""The notebook 03 checkers accept the worked solutions, report the stubs as not implemented, and name
each classic mistake."""

import pytest
import torch

from course_utils.exercises import check_layer_norm, check_layer_norm_params, check_rms_norm, nb03


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# ---- the worked solutions (as in notebooks/solutions/03_layer_norm_solutions.ipynb)


def layer_norm(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)  # biased: divide by n
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def layer_norm_params(cfg):
    return (2 * cfg.n_layers + 1) * 2 * cfg.emb_dim


def rms_norm(x, weight, eps=1e-5):
    return x / torch.sqrt((x**2).mean(dim=-1, keepdim=True) + eps) * weight


def _first_line(capsys):
    return capsys.readouterr().out.strip().splitlines()[0]


# ---- layer_norm


def test_layer_norm_solution_and_stub(capsys):
    assert check_layer_norm(layer_norm)
    assert "all 6 checks passed" in _first_line(capsys)
    assert not check_layer_norm(stub)
    assert _first_line(capsys).startswith("⏳")


def test_layer_norm_checker_accepts_torch(capsys):
    def via_torch(x, weight, bias, eps=1e-5):
        return torch.nn.functional.layer_norm(x, weight.shape, weight, bias, eps)

    assert check_layer_norm(via_torch)
    assert _first_line(capsys).startswith("✅")


def _centred(x):
    return x - x.mean(dim=-1, keepdim=True)


def _in_place(x, weight, bias, eps=1e-5):
    x -= x.mean(dim=-1, keepdim=True)
    return x / torch.sqrt((x**2).mean(dim=-1, keepdim=True) + eps) * weight + bias


LN_WRONG = [
    ("unbiased variance", lambda x, w, b, eps=1e-5: _centred(x) / torch.sqrt(x.var(-1, keepdim=True) + eps) * w + b,
     "the variance is the unbiased one"),
    ("eps outside the sqrt",
     lambda x, w, b, eps=1e-5: _centred(x) / (x.std(-1, keepdim=True, unbiased=False) + eps) * w + b,
     "eps was added to the standard deviation"),
    ("no eps", lambda x, w, b, eps=1e-5: _centred(x) / x.std(-1, keepdim=True, unbiased=False) * w + b,
     "eps is missing"),
    ("divided by the variance", lambda x, w, b, eps=1e-5: _centred(x) / (((_centred(x)) ** 2).mean(-1, keepdim=True)
                                                                         + eps) * w + b, "divided by the variance"),
    ("no scale and shift", lambda x, w, b, eps=1e-5: layer_norm(x, torch.ones_like(w), torch.zeros_like(b), eps),
     "the scale and shift are missing"),
    ("no shift", lambda x, w, b, eps=1e-5: layer_norm(x, w, torch.zeros_like(b), eps), "the shift is missing"),
    ("weight and bias swapped", lambda x, w, b, eps=1e-5: (layer_norm(x, torch.ones_like(w), torch.zeros_like(b), eps)
                                                           * b + w), "weight and bias are swapped"),
    ("ignores eps", lambda x, w, b, eps=1e-5: layer_norm(x, w, b), "the eps argument is ignored"),
    ("over the tokens", lambda x, w, b, eps=1e-5: ((x - x.mean(0, keepdim=True)) / torch.sqrt(
        x.var(0, keepdim=True, unbiased=False) + eps) * w + b), "over the first axis"),
    ("over the whole tensor", lambda x, w, b, eps=1e-5: (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + eps) * w
     + b, "over the whole tensor"),
    ("keepdim missing", lambda x, w, b, eps=1e-5: (x - x.mean(-1)) / torch.sqrt(x.var(-1, unbiased=False) + eps) * w
     + b, "keepdim=True is missing"),
    ("changes its input", _in_place, "changed its input (argument 1) in place"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in LN_WRONG], ids=[w[0] for w in LN_WRONG])
def test_layer_norm_names_the_mistake(capsys, wrong, fragment):
    assert not check_layer_norm(wrong)
    line = _first_line(capsys)
    assert line.startswith("❌ layer_norm") and fragment in line


def test_layer_norm_unknown_mistake_says_what_differs(capsys):
    assert not check_layer_norm(lambda x, w, b, eps=1e-5: 1.5 * layer_norm(x, w, b, eps))
    assert "every value is 1.5 times the expected one" in _first_line(capsys)
    assert not check_layer_norm(lambda x, w, b, eps=1e-5: layer_norm(x, w, b, eps) + 0.25)
    assert "every value is off by the same +0.25" in _first_line(capsys)


# ---- layer_norm_params


def test_layer_norm_params_solution_and_stub(capsys):
    assert check_layer_norm_params(layer_norm_params)
    assert _first_line(capsys).startswith("✅")
    assert not check_layer_norm_params(stub)
    assert _first_line(capsys).startswith("⏳")


def test_layer_norm_params_matches_a_real_model(tiny_cfg):
    import course_utils as cu

    model = cu.GPTModel(tiny_cfg)
    in_norms = sum(p.numel() for m in model.modules() if isinstance(m, cu.LayerNorm) for p in m.parameters())
    assert layer_norm_params(tiny_cfg) == in_norms


LN_PARAMS_WRONG = [
    ("no final LayerNorm", lambda cfg: 2 * cfg.n_layers * 2 * cfg.emb_dim, "the final LayerNorm"),
    ("weights only", lambda cfg: (2 * cfg.n_layers + 1) * cfg.emb_dim, "only the weights were counted"),
    ("one per block", lambda cfg: (cfg.n_layers + 1) * 2 * cfg.emb_dim, "one LayerNorm per block"),
    ("counts LayerNorms", lambda cfg: 2 * cfg.n_layers + 1, "counted, not their parameters"),
    ("context_length as width", lambda cfg: (2 * cfg.n_layers + 1) * 2 * cfg.context_length, "not context_length"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in LN_PARAMS_WRONG], ids=[w[0] for w in LN_PARAMS_WRONG])
def test_layer_norm_params_names_the_mistake(capsys, wrong, fragment):
    assert not check_layer_norm_params(wrong)
    line = _first_line(capsys)
    assert line.startswith("❌ layer_norm_params") and fragment in line


# ---- rms_norm


def test_rms_norm_solution_and_stub(capsys):
    assert check_rms_norm(rms_norm)
    assert "all 5 checks passed" in _first_line(capsys)
    assert not check_rms_norm(stub)
    assert _first_line(capsys).startswith("⏳")
    assert check_rms_norm(lambda x, weight, eps=1e-5: torch.nn.functional.rms_norm(x, weight.shape, weight, eps))
    assert _first_line(capsys).startswith("✅")


RMS_WRONG = [
    ("subtracts the mean", lambda x, w, eps=1e-5: rms_norm(_centred(x), w, eps), "the mean was subtracted"),
    ("eps outside", lambda x, w, eps=1e-5: x / (torch.sqrt((x**2).mean(-1, keepdim=True)) + eps) * w,
     "eps was added after the square root"),
    ("no square root", lambda x, w, eps=1e-5: x / ((x**2).mean(-1, keepdim=True) + eps) * w, "not by its square root"),
    ("L2 norm", lambda x, w, eps=1e-5: x / x.norm(dim=-1, keepdim=True) * w, "the L2 norm"),
    ("standard deviation", lambda x, w, eps=1e-5: x / x.std(-1, keepdim=True, unbiased=False) * w,
     "standard deviation"),
    ("square of the mean", lambda x, w, eps=1e-5: x / torch.sqrt(x.mean(-1, keepdim=True) ** 2 + eps) * w,
     "the mean was squared"),
    ("no weight", lambda x, w, eps=1e-5: rms_norm(x, torch.ones_like(w), eps), "the scale is missing"),
    ("ignores eps", lambda x, w, eps=1e-5: rms_norm(x, w), "the eps argument is ignored"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in RMS_WRONG], ids=[w[0] for w in RMS_WRONG])
def test_rms_norm_names_the_mistake(capsys, wrong, fragment):
    assert not check_rms_norm(wrong)
    line = _first_line(capsys)
    assert line.startswith("❌ rms_norm") and fragment in line


MISTAKES = ([(check_layer_norm, m) for m in nb03._LAYER_NORM_MISTAKES]
            + [(check_layer_norm_params, m) for m in nb03._LN_PARAMS_MISTAKES]
            + [(check_rms_norm, m) for m in nb03._RMS_MISTAKES])


@pytest.mark.parametrize("check, mistake", MISTAKES, ids=[f"{c.__name__}-{m.hint[:40]}" for c, m in MISTAKES])
def test_every_mistake_is_recognised(capsys, check, mistake):
    assert not check(mistake.fn)
    assert f"it looks like {mistake.hint}" in capsys.readouterr().out
