"""The notebook 05 checkers accept the worked solutions and reject the stub and plausible mistakes."""

import torch

from course_utils.exercises import check_residual_forward, check_sublayer_contributions


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# --- residual_forward --------------------------------------------------------------------------


def residual_forward(x, layers):  # the worked solution
    for layer in layers:
        x = x + layer(x)
    return x


def test_residual_forward_accepts_solution(capsys):
    assert check_residual_forward(residual_forward)
    assert capsys.readouterr().out.startswith("✅ residual_forward")


def test_residual_forward_stub_is_not_implemented(capsys):
    assert not check_residual_forward(stub)
    assert capsys.readouterr().out.startswith("⏳ residual_forward: not implemented yet")


def plain(x, layers):  # forgot the shortcut
    for layer in layers:
        x = layer(x)
    return x


def adds_input_once(x, layers):  # every layer reads the original x, not the stream
    out = x
    for layer in layers:
        out = out + layer(x)
    return out


def test_residual_forward_rejects_mistakes(capsys):
    for wrong in (plain, adds_input_once):
        assert not check_residual_forward(wrong)
        assert capsys.readouterr().out.startswith("❌ residual_forward")


# --- sublayer_contributions --------------------------------------------------------------------


def sublayer_contributions(x, block):  # the worked solution
    attention_part = block.attn(block.norm1(x))
    ff_part = block.ff(block.norm2(x + attention_part))
    return attention_part, ff_part


def test_contributions_accept_solution(capsys):
    assert check_sublayer_contributions(sublayer_contributions)
    assert capsys.readouterr().out.startswith("✅ sublayer_contributions")


def test_contributions_stub_is_not_implemented(capsys):
    assert not check_sublayer_contributions(stub)
    assert capsys.readouterr().out.startswith("⏳ sublayer_contributions: not implemented yet")


def ff_reads_old_stream(x, block):  # the feed-forward network must read x + attention_part
    a = block.attn(block.norm1(x))
    return a, block.ff(block.norm2(x))


def skips_layer_norm(x, block):
    a = block.attn(x)
    return a, block.ff(x + a)


def whole_change_only(x, block):  # not a pair
    return block(x) - x


def test_contributions_reject_mistakes(capsys):
    for wrong in (ff_reads_old_stream, skips_layer_norm, whole_change_only):
        assert not check_sublayer_contributions(wrong)
        out = capsys.readouterr().out
        assert out.startswith("❌ sublayer_contributions")
    assert "expected a pair" in out


def test_contributions_name_the_old_stream_mistake(capsys):
    assert not check_sublayer_contributions(ff_reads_old_stream)
    out = capsys.readouterr().out
    assert "ff_part" in out and "must read x + a" in out
    assert not check_sublayer_contributions(skips_layer_norm)  # other mistakes get no such hint
    assert "must read x + a" not in capsys.readouterr().out


def test_checkers_leave_the_global_rng_alone():
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    check_residual_forward(residual_forward)
    check_sublayer_contributions(sublayer_contributions)
    assert torch.equal(before, torch.random.get_rng_state())
