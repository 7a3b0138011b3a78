"""The notebook 05 checkers accept the worked solutions, report the stubs as not implemented, and name
each classic mistake."""

import pytest

from course_utils.exercises import check_residual_forward, check_sublayer_contributions, nb05


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# --- residual_forward --------------------------------------------------------------------------


def residual_forward(x, layers):  # the worked solution
    for layer in layers:
        x = x + layer(x)
    return x


def test_residual_forward_solution_and_stub(capsys):
    assert check_residual_forward(residual_forward)
    assert capsys.readouterr().out.startswith("✅ residual_forward: all 4 checks passed")
    assert not check_residual_forward(stub)
    assert capsys.readouterr().out.startswith("⏳ residual_forward: not implemented yet")


def in_place(x, layers):  # changes the caller's tensor
    for layer in layers:
        x += layer(x)
    return x


def plain(x, layers):  # forgot the shortcut
    for layer in layers:
        x = layer(x)
    return x


def adds_input_once(x, layers):  # every layer reads the original x, not the stream
    out = x
    for layer in layers:
        out = out + layer(x)
    return out


def returns_in_the_loop(x, layers):
    for layer in layers:
        x = x + layer(x)
        return x


def one_shortcut(x, layers):
    h = x
    for layer in layers:
        h = layer(h)
    return x + h


def reversed_order(x, layers):
    for layer in reversed(list(layers)):
        x = x + layer(x)
    return x


RESIDUAL_WRONG = [
    ("x += layer(x)", in_place, "changed its input (argument 1) in place"),
    ("no shortcut", plain, "the shortcut is missing"),
    ("reads the input", adds_input_once, "read the original input"),
    ("return inside the loop", returns_in_the_loop, "only the first layer was applied"),
    ("one shortcut around the stack", one_shortcut, "one shortcut around the whole stack"),
    ("reversed order", reversed_order, "reverse order"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in RESIDUAL_WRONG], ids=[w[0] for w in RESIDUAL_WRONG])
def test_residual_forward_names_the_mistake(capsys, wrong, fragment):
    assert not check_residual_forward(wrong)
    out = capsys.readouterr().out
    assert out.startswith("❌ residual_forward") and fragment in out


# --- sublayer_contributions --------------------------------------------------------------------


def sublayer_contributions(x, block):  # the worked solution
    attention_part = block.attn(block.norm1(x))
    ff_part = block.ff(block.norm2(x + attention_part))
    return attention_part, ff_part


def test_contributions_solution_and_stub(capsys):
    assert check_sublayer_contributions(sublayer_contributions)
    assert capsys.readouterr().out.startswith("✅ sublayer_contributions")
    assert not check_sublayer_contributions(stub)
    assert capsys.readouterr().out.startswith("⏳ sublayer_contributions: not implemented yet")


def ff_reads_old_stream(x, block):
    a = block.attn(block.norm1(x))
    return a, block.ff(block.norm2(x))


def skips_layer_norm(x, block):
    a = block.attn(x)
    return a, block.ff(x + a)


def returns_streams(x, block):
    a, f = sublayer_contributions(x, block)
    return x + a, x + a + f


def post_ln(x, block):
    a = block.norm1(block.attn(x))
    return a, block.norm2(block.ff(x + a))


def swapped_norms(x, block):
    a = block.attn(block.norm2(x))
    return a, block.ff(block.norm1(x + a))


def wrong_order(x, block):
    a, f = sublayer_contributions(x, block)
    return f, a


def whole_change_as_f(x, block):
    a = block.attn(block.norm1(x))
    return a, block(x) - x


def whole_change_only(x, block):  # not a pair
    return block(x) - x


PAIR_WRONG = [
    ("ff reads x", ff_reads_old_stream, "must read x + a"),
    ("no LayerNorms", skips_layer_norm, "the LayerNorms were skipped"),
    ("the streams", returns_streams, "the stream after each add was returned"),
    ("post-LN", post_ln, "post-LN"),
    ("norm1 and norm2 swapped", swapped_norms, "norm1 and norm2 are swapped"),
    ("pair in the wrong order", wrong_order, "the wrong order"),
    ("f includes a", whole_change_as_f, "ff_part includes the attention part"),
    ("not a pair", whole_change_only, "expected a pair (attention_part, ff_part)"),
]


@pytest.mark.parametrize("wrong, fragment", [w[1:] for w in PAIR_WRONG], ids=[w[0] for w in PAIR_WRONG])
def test_contributions_name_the_mistake(capsys, wrong, fragment):
    assert not check_sublayer_contributions(wrong)
    out = capsys.readouterr().out
    assert out.startswith("❌ sublayer_contributions") and fragment in out


def test_contributions_old_stream_hint_is_only_for_that_mistake(capsys):
    assert not check_sublayer_contributions(skips_layer_norm)
    assert "must read x + a" not in capsys.readouterr().out


MISTAKES = ([(check_residual_forward, m) for m in nb05._RESIDUAL_MISTAKES]
            + [(check_sublayer_contributions, m) for m in nb05._PAIR_MISTAKES])


@pytest.mark.parametrize("check, mistake", MISTAKES, ids=[f"{c.__name__}-{m.hint[:40]}" for c, m in MISTAKES])
def test_every_mistake_is_recognised(capsys, check, mistake):
    assert not check(mistake.fn)
    assert f"it looks like {mistake.hint}" in capsys.readouterr().out
