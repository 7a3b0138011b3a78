"""The notebook 03 checkers accept the worked solutions and reject the stub and typical mistakes."""

import torch

from course_utils.exercises import check_layer_norm, check_layer_norm_params, check_rms_norm


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


# ---- plausible wrong answers


def unbiased_variance(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True)  # divides by n - 1
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def eps_outside_the_root(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / (std + eps) * weight + bias


def forgets_scale_and_shift(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def ignores_eps_argument(x, weight, bias, eps=1e-5):
    return layer_norm(x, weight, bias)  # always 1e-5


def normalises_over_tokens(x, weight, bias, eps=1e-5):
    mean = x.mean(dim=0, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=0, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def rms_norm_subtracting_the_mean(x, weight, eps=1e-5):
    return layer_norm(x, weight, torch.zeros_like(weight), eps)


def rms_norm_eps_outside(x, weight, eps=1e-5):
    return x / (torch.sqrt((x**2).mean(dim=-1, keepdim=True)) + eps) * weight


def two_per_block_only(cfg):
    return 2 * cfg.n_layers * 2 * cfg.emb_dim


def weights_only(cfg):
    return (2 * cfg.n_layers + 1) * cfg.emb_dim


def _first_line(capsys):
    return capsys.readouterr().out.strip().splitlines()[0]


def test_layer_norm_checker(capsys):
    check_layer_norm(layer_norm)
    assert "all 6 checks passed" in _first_line(capsys)
    check_layer_norm(stub)
    assert _first_line(capsys).startswith("⏳")
    for wrong in (unbiased_variance, eps_outside_the_root, forgets_scale_and_shift, ignores_eps_argument,
                  normalises_over_tokens):
        check_layer_norm(wrong)
        assert _first_line(capsys).startswith("❌"), wrong.__name__


def test_checkers_return_truthy_only_on_success(capsys):
    assert check_layer_norm(layer_norm) and check_layer_norm_params(layer_norm_params) and check_rms_norm(rms_norm)
    assert not check_layer_norm(unbiased_variance)
    assert not check_rms_norm(stub)


def test_layer_norm_checker_accepts_torch(capsys):
    def via_torch(x, weight, bias, eps=1e-5):
        return torch.nn.functional.layer_norm(x, weight.shape, weight, bias, eps)

    check_layer_norm(via_torch)
    assert _first_line(capsys).startswith("✅")


def test_layer_norm_params_checker(capsys):
    check_layer_norm_params(layer_norm_params)
    assert _first_line(capsys).startswith("✅")
    check_layer_norm_params(stub)
    assert _first_line(capsys).startswith("⏳")
    for wrong in (two_per_block_only, weights_only):
        check_layer_norm_params(wrong)
        assert _first_line(capsys).startswith("❌"), wrong.__name__


def test_layer_norm_params_matches_a_real_model(tiny_cfg):
    import course_utils as cu

    model = cu.GPTModel(tiny_cfg)
    in_norms = sum(p.numel() for m in model.modules() if isinstance(m, cu.LayerNorm) for p in m.parameters())
    assert layer_norm_params(tiny_cfg) == in_norms


def test_rms_norm_checker(capsys):
    check_rms_norm(rms_norm)
    assert "all 5 checks passed" in _first_line(capsys)
    check_rms_norm(stub)
    assert _first_line(capsys).startswith("⏳")
    for wrong in (rms_norm_subtracting_the_mean, rms_norm_eps_outside):
        check_rms_norm(wrong)
        assert _first_line(capsys).startswith("❌"), wrong.__name__


def test_rms_norm_checker_accepts_torch(capsys):
    check_rms_norm(lambda x, weight, eps=1e-5: torch.nn.functional.rms_norm(x, weight.shape, weight, eps))
    assert _first_line(capsys).startswith("✅")
