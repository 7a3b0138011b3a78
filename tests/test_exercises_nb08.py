"""The notebook 08 checkers accept the worked solutions, reject the stub, and name each classic mistake."""

import pytest
import torch

from course_utils.exercises import check_greedy_decode, check_sample_next_token, check_top_k_filter, nb08, nb08_sampling
from course_utils.generate import next_token_distribution


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


def first_line(capsys):
    return capsys.readouterr().out.splitlines()[0]


# --- top_k_exact ------------------------------------------------------------------------------------


def top_k_solution(logits, k):
    idx = torch.topk(logits, k, dim=-1).indices
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, idx, True)
    return logits.masked_fill(~keep, float("-inf"))


def test_top_k_accepts_solution_and_rejects_stub(capsys):
    assert check_top_k_filter(top_k_solution)
    assert first_line(capsys).startswith("✅ top_k_exact: all 5 checks passed")  # the notebook's name
    assert not check_top_k_filter(stub)
    assert first_line(capsys).startswith("⏳ top_k_exact: not implemented yet")


@pytest.mark.parametrize("mistake", nb08._TOP_K_MISTAKES, ids=lambda m: m.hint[:40])
def test_top_k_names_each_mistake(mistake, capsys):
    assert not check_top_k_filter(mistake.fn)
    assert mistake.hint in first_line(capsys)


def test_top_k_zero_fill_and_probabilities_are_not_blamed_on_ties(capsys):
    def zero_fill(logits, k):
        idx = torch.topk(logits, k, dim=-1).indices
        return torch.zeros_like(logits).scatter(-1, idx, logits.gather(-1, idx))

    def probabilities(logits, k):
        probs = torch.softmax(logits, -1)
        return torch.where(probs >= torch.topk(probs, k).values[:, -1:], probs, torch.zeros_like(probs))

    for wrong, words in [(zero_fill, "set to 0, not -inf"), (probabilities, "probabilities came back")]:
        assert not check_top_k_filter(wrong)
        line = first_line(capsys)
        assert words in line and "tie" not in line.replace("probabilities", "")


def test_top_k_threshold_is_told_about_ties(capsys):
    def threshold(logits, k):
        return logits.masked_fill(logits < torch.topk(logits, k, dim=-1).values[..., -1:], float("-inf"))

    assert not check_top_k_filter(threshold)
    line = first_line(capsys)
    assert "case 3 (ties at the border" in line and "keeps more than k" in line


def test_top_k_in_place_and_large_negative_fill(capsys):
    def in_place(logits, k):
        keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, torch.topk(logits, k).indices, True)
        logits[~keep] = float("-inf")
        return logits

    assert not check_top_k_filter(in_place)
    assert "changed its input (argument 1) in place" in first_line(capsys)
    assert not check_top_k_filter(lambda logits, k: top_k_solution(logits, k).clamp(min=-1e9))
    assert "no entry is -inf (the smallest is -1e+09)" in first_line(capsys)


# --- greedy_decode ----------------------------------------------------------------------------------


def greedy_solution(model, ids, max_new_tokens):
    ctx = model.cfg.context_length
    for _ in range(max_new_tokens):
        logits = model(ids[:, -ctx:])
        ids = torch.cat([ids, logits[:, -1, :].argmax(dim=-1, keepdim=True)], dim=1)
    return ids


def test_greedy_accepts_solution_and_rejects_stub(capsys):
    assert check_greedy_decode(greedy_solution)
    assert first_line(capsys).startswith("✅ greedy_decode: all 6 checks passed")
    assert not check_greedy_decode(stub)
    assert first_line(capsys).startswith("⏳ greedy_decode: not implemented yet")


@pytest.mark.parametrize("mistake", nb08._GREEDY_MISTAKES, ids=lambda m: m.hint[:40])
def test_greedy_names_each_mistake(mistake, capsys):
    assert not check_greedy_decode(mistake.fn)
    assert mistake.hint in first_line(capsys)


def _loop(feed, pick=-1):
    def greedy(model, ids, n):
        for _ in range(n):
            nxt = model(feed(ids, model.cfg.context_length))[:, pick, :].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
        return ids
    return greedy


def test_greedy_wrong_windows_no_longer_pass(capsys):
    """The issue's accepted-wrong answers: each is rejected and named."""
    def once_and_repeat(model, ids, n):
        nxt = model(ids[:, -model.cfg.context_length:])[:, -1, :].argmax(-1, keepdim=True)
        return torch.cat([ids] + [nxt] * n, dim=1)

    for wrong, words in [
        (_loop(lambda ids, c: ids[:, -(c - 1):]), "fed context_length - 1 tokens"),
        (_loop(lambda ids, c: ids[:, -1:]), "fed only the last token"),
        (_loop(lambda ids, c: ids[:, :c]), "fed the FIRST context_length tokens"),
        (once_and_repeat, "called once and its token repeated"),
        (_loop(lambda ids, c: ids[:, -c:], pick=0), "FIRST position's logits"),
        (_loop(lambda ids, c: ids), "feed it at most the last"),  # the model itself refuses too long an input
    ]:
        assert not check_greedy_decode(wrong)
        assert words in first_line(capsys)


def test_greedy_float_ids_and_unknown_mistake(capsys):
    assert not check_greedy_decode(lambda model, ids, n: greedy_solution(model, ids, n).float())
    assert "the ids are floats" in first_line(capsys)
    assert not check_greedy_decode(lambda model, ids, n: (lambda out: out.where(out != out[:, -1:], 0))(
        greedy_solution(model, ids, n)))
    assert "the new tokens differ from step" in first_line(capsys)


def test_window_model_depends_on_every_token_and_never_collapses():
    model = nb08._WindowModel(vocab_size=50, context_length=6)
    ids = torch.tensor([[3, 14, 15, 9]])
    out = greedy_solution(model, ids, 20)
    assert len(set(out[0, 4:].tolist())) > 8  # no single repeated token
    for pos in range(4):  # changing any one token of the window changes the next token
        other = ids.clone()
        other[0, pos] = (other[0, pos] + 1) % 50
        assert model(other)[0, -1].argmax() != model(ids)[0, -1].argmax()
    with pytest.raises(ValueError, match="context_length is 6"):
        model(torch.zeros(1, 7, dtype=torch.long))


# --- sample_token -----------------------------------------------------------------------------------


def sample_token(logits, temperature, top_k, top_p, generator):
    probs = next_token_distribution(logits, temperature, top_k, top_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _draw_from(probs_fn):
    def sampler(logits, temperature, top_k, top_p, generator):
        return torch.multinomial(probs_fn(logits, temperature, top_k, top_p), 1, generator=generator).squeeze(-1)
    return sampler


def test_sample_accepts_solution_and_other_correct_samplers(capsys):
    def inverse_cdf(logits, temperature, top_k, top_p, generator):
        probs = next_token_distribution(logits, temperature, top_k, top_p)
        u = torch.rand(logits.shape[0], 1, generator=generator)
        return (probs.cumsum(-1) < u).sum(-1).clamp(max=logits.shape[-1] - 1)

    def categorical_by_hand(logits, temperature, top_k, top_p, generator):  # Gumbel-max: exact sampling too
        probs = next_token_distribution(logits, temperature, top_k, top_p)
        gumbel = -torch.log(-torch.log(torch.rand(probs.shape, generator=generator)))
        return (probs.log() + gumbel).argmax(-1)

    for right in (sample_token, inverse_cdf, categorical_by_hand):
        assert check_sample_next_token(right)
        assert first_line(capsys).startswith("✅ sample_token: all 8 checks passed")


def test_sample_rejects_stub(capsys):
    assert not check_sample_next_token(stub)
    assert first_line(capsys).startswith("⏳ sample_token: not implemented yet")


@pytest.mark.parametrize("mistake", nb08_sampling._SAMPLE_MISTAKES, ids=lambda m: m.hint[:40])
def test_sample_names_each_mistake(mistake, capsys):
    assert not check_sample_next_token(_draw_from(mistake.fn.probs_fn))
    assert mistake.hint in first_line(capsys)


def _filtered(logits, temperature, top_k, top_p, *, temperature_first=True, nucleus="right"):
    z = logits / temperature if temperature_first else logits
    if top_k is not None:
        z = z.masked_fill(z < torch.topk(z, top_k).values[:, -1:], float("-inf"))
    probs = torch.softmax(z, -1)
    if top_p is not None:
        sp, order = probs.sort(-1, descending=True)
        cum = sp.cumsum(-1)
        drop = {"right": cum - sp >= top_p, "few": cum >= top_p,
                "many": torch.cat([torch.zeros_like(cum[:, :1], dtype=torch.bool), (cum - sp)[:, :-1] >= top_p], 1)}
        drop = drop[nucleus]
        drop[:, 0] = False
        probs = torch.zeros_like(probs).scatter(-1, order, sp.masked_fill(drop, 0.0))
    return probs


def test_sample_names_student_mistakes(capsys):
    def draw(probs, g):
        return torch.multinomial(probs, 1, generator=g).squeeze(-1)

    wrong_answers = [
        (lambda z, t, k, p, g: z.argmax(-1), "always picked (argmax)"),
        (lambda z, t, k, p, g: draw(_filtered(z, 1.0, k, p) / t, g), "the temperature had no effect"),
        (lambda z, t, k, p, g: draw(torch.softmax(_filtered(z, 1.0, k, p) / t, -1), g), "after the softmax"),
        (lambda z, t, k, p, g: draw(_filtered(z, t, k, p, nucleus="few"), g), "one token too few"),
        (lambda z, t, k, p, g: draw(_filtered(z, t, k, p, nucleus="many"), g), "one token too many"),
        (lambda z, t, k, p, g: draw(_filtered(z, t, None, p), g), "top-k filter had no effect"),
        (lambda z, t, k, p, g: _filtered(z, t, k, p), "probabilities (B, V) came back"),
        (lambda z, t, k, p, g: draw(_filtered(z, t, k, p), g).float(), "the ids are floats"),
        (lambda z, t, k, p, g: torch.multinomial(_filtered(z, t, k, p), 1, generator=g), "shape (B, 1), expected (B,)"),
        (lambda z, t, k, p, g: torch.multinomial(_filtered(z, t, k, p), 1).squeeze(-1), "global random generator"),
        (lambda z, t, k, p, g: torch.distributions.Categorical(probs=_filtered(z, t, k, p)).sample(),
         "global random generator"),
        (lambda z, t, k, p, g: draw(_filtered(z, t, k, p), torch.Generator().manual_seed(0)), "different seeds"),
    ]
    for wrong, words in wrong_answers:
        assert not check_sample_next_token(wrong)
        assert words in first_line(capsys)


def test_sample_right_distribution_from_a_wrong_generator_is_still_rejected(capsys):
    calls = []

    def fresh_seed_each_call(z, t, k, p, g):  # reproducible for no seed: draws change from call to call
        calls.append(1)
        return torch.multinomial(_filtered(z, t, k, p), 1, generator=torch.Generator().manual_seed(len(calls)))[:, 0]

    assert not check_sample_next_token(fresh_seed_each_call)
    assert "same seed gave different draws" in first_line(capsys)


def test_checkers_leave_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    check_top_k_filter(top_k_solution)
    check_greedy_decode(greedy_solution)
    check_sample_next_token(sample_token)
    check_sample_next_token(lambda z, t, k, p, g: torch.multinomial(_filtered(z, t, k, p), 1)[:, 0])
    assert torch.equal(torch.rand(3), expected)
