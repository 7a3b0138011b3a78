import pytest

import course_utils as cu


@pytest.mark.parametrize(
    "name,width,layers,heads",
    [("gpt2-small", 768, 12, 12), ("gpt2-medium", 1024, 24, 16), ("gpt2-large", 1280, 36, 20), ("gpt2-xl", 1600, 48, 25)],
)
def test_presets_have_the_published_gpt2_shapes(name, width, layers, heads):
    cfg = cu.GPTConfig.from_preset(name)
    assert (cfg.emb_dim, cfg.n_layers, cfg.n_heads) == (width, layers, heads)
    assert cfg.vocab_size == 50257 and cfg.context_length == 1024 and cfg.qkv_bias is True
    assert cfg.head_dim == 64


def test_defaults_are_gpt2_small():
    assert cu.GPTConfig() == cu.GPTConfig.from_preset("gpt2-small")


def test_preset_overrides_and_roundtrip():
    cfg = cu.GPTConfig.from_preset("gpt2-small", context_length=256, drop_rate=0.0)
    assert cfg.context_length == 256 and cfg.emb_dim == 768
    assert cu.GPTConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(n_layers=2).n_layers == 2


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"emb_dim": 100, "n_heads": 12}, "divisible by n_heads"),
        ({"n_layers": 0}, "n_layers must be positive"),
        ({"vocab_size": -5}, "vocab_size must be positive"),
        ({"context_length": 12.5}, "context_length must be a whole number"),
        ({"drop_rate": 1.0}, "0 <= drop_rate < 1"),
        ({"drop_rate": -0.1}, "0 <= drop_rate < 1"),
        ({"qkv_bias": "yes"}, "qkv_bias"),
    ],
)
def test_invalid_configs_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cu.GPTConfig(**kwargs)


def test_unknown_preset_and_field():
    with pytest.raises(ValueError, match="choose one of"):
        cu.GPTConfig.from_preset("gpt3")
    with pytest.raises(ValueError, match="unknown GPTConfig field"):
        cu.GPTConfig.from_dict({"emb_dim": 8, "n_heads": 2, "heads": 3})
