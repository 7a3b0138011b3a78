import math

import pytest
import torch

import course_utils as cu


def test_gpt2_small_parameter_count():
    model = cu.GPTModel(cu.GPTConfig.from_preset("gpt2-small"))
    assert sum(p.numel() for p in model.parameters()) == 124_439_808
    assert cu.count_parameters(model) == {"tied": 124_439_808, "untied": 163_037_184}
    counts = cu.parameter_counts(model.cfg)
    assert (counts.tied, counts.untied, counts.per_block) == (124_439_808, 163_037_184, 7_087_872)


@pytest.mark.parametrize("preset", ["gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"])
def test_counts_match_hugging_face(preset):
    import transformers  # pinned in requirements-test.txt: missing must fail, not skip

    cfg = cu.GPTConfig.from_preset(preset)
    hf_cfg = transformers.GPT2Config(n_embd=cfg.emb_dim, n_layer=cfg.n_layers, n_head=cfg.n_heads)
    with torch.device("meta"):  # shapes only: nothing is allocated
        hf = transformers.GPT2LMHeadModel(hf_cfg)
        ours = cu.GPTModel(cfg)
    hf_count = sum(p.numel() for p in hf.parameters())
    assert cu.parameter_counts(cfg).tied == hf_count
    assert cu.count_parameters(ours)["tied"] == hf_count


def test_parameter_counts_without_qkv_bias(tiny_cfg):
    cfg = tiny_cfg.replace(qkv_bias=False)
    assert cu.parameter_counts(cfg).tied == cu.count_parameters(cu.GPTModel(cfg))["tied"]


def test_weights_are_tied(tiny_cfg):
    model = cu.GPTModel(tiny_cfg)
    assert model.out_head.weight is model.tok_emb.weight


def test_gpt2_initialisation():
    cfg = cu.GPTConfig(emb_dim=256, n_heads=4, n_layers=8, context_length=64)
    model = cu.GPTModel(cfg)
    block = model.blocks[3]
    assert block.attn.W_query.weight.std().item() == pytest.approx(0.02, rel=0.05)
    resid = 0.02 / math.sqrt(2 * cfg.n_layers)
    assert block.attn.out_proj.weight.std().item() == pytest.approx(resid, rel=0.05)
    assert block.ff.fc_out.weight.std().item() == pytest.approx(resid, rel=0.05)
    assert model.tok_emb.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.all(block.attn.W_query.bias == 0) and torch.all(block.norm1.weight == 1)


def test_mask_is_not_in_state_dict(tiny_cfg):
    keys = cu.GPTModel(tiny_cfg).state_dict().keys()
    assert not any("mask" in k for k in keys)


@pytest.mark.parametrize("t", [1, 7, 32])
def test_output_shape_up_to_context(tiny_cfg, t):
    model = cu.GPTModel(tiny_cfg).eval()
    logits = model(torch.randint(0, 50257, (2, t)))
    assert logits.shape == (2, t, 50257)


def test_explicit_attention_equals_fast(tiny_cfg):
    model = cu.GPTModel(tiny_cfg).eval()
    ids = torch.randint(0, 50257, (2, 20))
    fast = model(ids)
    explicit, weights = model(ids, return_attention=True)
    torch.testing.assert_close(fast, explicit, atol=1e-5, rtol=1e-5)
    assert len(weights) == tiny_cfg.n_layers and weights[0].shape == (2, 4, 20, 20)
    torch.testing.assert_close(weights[0].sum(-1), torch.ones(2, 4, 20))
    assert torch.all(weights[0].triu(1) == 0)  # no token looks ahead


def test_attention_module_paths_agree():
    attn = cu.MultiHeadAttention(d_in=16, d_out=16, context_length=8, dropout=0.0, num_heads=4).eval()
    x = torch.randn(3, 8, 16)
    out, _ = attn(x, return_weights=True)
    torch.testing.assert_close(attn(x), out, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("fast", [True, False])
def test_kv_cache_matches_full_forward(tiny_cfg, fast):
    model = cu.GPTModel(tiny_cfg).eval().set_attention_path(fast)
    ids = torch.randint(0, 50257, (2, 12))
    full = model(ids)
    cache = model.new_cache()
    pieces = [model(ids[:, :5], cache=cache)]  # a prompt of 5 tokens ...
    pieces.append(model(ids[:, 5:9], cache=cache))  # ... a chunk of 4 ...
    pieces += [model(ids[:, i : i + 1], cache=cache) for i in range(9, 12)]  # ... then one at a time
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)
    assert len(cache) == 12


def test_dropout_only_in_training(tiny_cfg):
    model = cu.GPTModel(tiny_cfg.replace(drop_rate=0.5))
    ids = torch.randint(0, 50257, (1, 8))
    model.eval()
    torch.testing.assert_close(model(ids), model(ids))
    model.train()
    assert not torch.allclose(model(ids), model(ids))


def test_bad_inputs_give_clear_errors(tiny_cfg):
    model = cu.GPTModel(tiny_cfg)
    with pytest.raises(ValueError, match="sequence has 33 tokens but context_length is 32"):
        model(torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match="token id 50257 is outside the model.s vocabulary"):
        model(torch.tensor([[1, 2, 50257]]))
    with pytest.raises(ValueError, match="token id -1 is outside"):
        model(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="must be integers.*float32"):
        model(torch.tensor([[1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="empty sequence"):
        model(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"empty batch \(0 rows, shape \(0, 5\)\)"):
        model(torch.zeros(0, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="expected a tensor"):
        model([[1, 2, 3]])
    with pytest.raises(ValueError, match="needs a GPTConfig"):
        cu.GPTModel({"emb_dim": 8})


def test_attention_and_block_name_bad_input_shapes(tiny_cfg):
    block = cu.TransformerBlock(tiny_cfg).eval()
    d, ctx = tiny_cfg.emb_dim, tiny_cfg.context_length
    for module in (block.attn, block):
        with pytest.raises(ValueError, match=rf"shape \(batch, tokens, {d}\), got \(4, {d}\); add a batch dimension"):
            module(torch.randn(4, d))
        with pytest.raises(ValueError, match=f"{ctx + 1} tokens but context_length is {ctx}"):
            module(torch.randn(1, ctx + 1, d))  # the fast path would run; the explicit one would not
    with pytest.raises(ValueError, match=rf"shape \(batch, tokens, {d}\), got \(1, 4, {d + 1}\)$"):
        block.attn(torch.randn(1, 4, d + 1))
    cache = cu.KVCache(1)
    block.attn(torch.randn(1, ctx - 1, d), cache=cache)
    with pytest.raises(ValueError, match=f"{ctx + 1} tokens but context_length is {ctx}"):
        block.attn(torch.randn(1, 2, d), cache=cache)
    assert block(torch.randn(2, ctx, d)).shape == (2, ctx, d)  # the full context is fine


def test_any_integer_dtype_works_as_ids(tiny_cfg):
    model = cu.GPTModel(tiny_cfg).eval()
    ids = torch.tensor([[1, 2, 250]])
    expected = model(ids)
    for dtype in (torch.uint8, torch.int16, torch.int32):
        torch.testing.assert_close(model(ids.to(dtype)), expected, rtol=0, atol=0)


def test_a_mismatched_cache_is_a_clear_error(tiny_cfg):
    model = cu.GPTModel(tiny_cfg).eval()
    with pytest.raises(ValueError, match=f"room for 1 layers but the model has {tiny_cfg.n_layers}.*new_cache"):
        model(torch.tensor([[1, 2]]), cache=cu.KVCache(1))
    cache = model.new_cache()
    model(torch.tensor([[1, 2]]), cache=cache)
    with pytest.raises(ValueError, match="holds 1 sequence\\(s\\) but got a batch of 2"):
        model(torch.tensor([[3], [4]]), cache=cache)


def test_gpt2_initialisation_of_every_parameter():
    cfg = cu.GPTConfig(vocab_size=4096, emb_dim=256, n_heads=4, n_layers=8, context_length=256)
    model = cu.GPTModel(cfg)
    resid = 0.02 / math.sqrt(2 * cfg.n_layers)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            assert torch.all(p == 0), name
        elif "norm" in name:
            assert torch.all(p == 1), name
        else:
            want = resid if name.endswith(("attn.out_proj.weight", "ff.fc_out.weight")) else 0.02
            assert p.std().item() == pytest.approx(want, rel=0.05), name
            assert abs(p.mean().item()) < 0.05 * want, name


def test_layer_norm_eps_is_gpt2s():
    x = torch.randn(2, 5, 16) * 3e-3  # variance ~1e-5: eps changes the output by ~30%
    by_hand = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5)
    torch.testing.assert_close(cu.LayerNorm(16)(x), by_hand, atol=1e-5, rtol=1e-4)
    model = cu.GPTModel(cu.GPTConfig(vocab_size=100, context_length=8, emb_dim=16, n_heads=2, n_layers=2))
    norms = [m for m in model.modules() if isinstance(m, cu.LayerNorm)]
    assert len(norms) == 2 * 2 + 1 and all(m.eps == 1e-5 for m in norms)


def test_layer_norm_matches_formula_and_torch():
    x = torch.randn(2, 5, 16) * 3 + 1
    ln = cu.LayerNorm(16)
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True, unbiased=False)
    by_hand = (x - mean) / torch.sqrt(var + 1e-5) * ln.weight + ln.bias
    torch.testing.assert_close(ln(x), by_hand, atol=1e-5, rtol=1e-5)
    ref = torch.nn.LayerNorm(16, eps=1e-5)
    ref.load_state_dict(ln.state_dict())
    torch.testing.assert_close(ln(x), ref(x))


def test_gelu_is_the_tanh_approximation():
    x = torch.linspace(-6, 6, 1001)
    torch.testing.assert_close(cu.GELU()(x), cu.gelu_tanh(x), atol=1e-6, rtol=1e-5)
    exact = torch.nn.functional.gelu(x)
    assert 1e-4 < (cu.GELU()(x) - exact).abs().max() < 1e-3  # close to, but not, exact GELU


def test_feed_forward_shapes():
    ff = cu.FeedForward(768)
    assert ff.fc_in.weight.shape == (3072, 768) and ff(torch.randn(2, 3, 768)).shape == (2, 3, 768)


def test_block_keeps_shape(tiny_cfg):
    block = cu.TransformerBlock(tiny_cfg)
    x = torch.randn(2, 6, tiny_cfg.emb_dim)
    assert block(x).shape == x.shape
