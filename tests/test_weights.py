import os
from pathlib import Path

import pytest
import torch
import transformers  # (pinned in requirements-test.txt: a missing install must fail, not skip)

import course_utils as cu


def _random_hf_model(cfg: cu.GPTConfig):
    hf_cfg = transformers.GPT2Config(
        vocab_size=cfg.vocab_size,
        n_positions=cfg.context_length,
        n_embd=cfg.emb_dim,
        n_layer=cfg.n_layers,
        n_head=cfg.n_heads,
        activation_function="gelu_new",
        layer_norm_epsilon=1e-5,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    hf = transformers.GPT2LMHeadModel(hf_cfg).eval()
    with torch.no_grad():  # make every bias and LayerNorm parameter non-trivial
        for name, p in hf.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.normal_(0.0, 0.5 if ".ln_" not in name else 0.2).add_(1.0 if name.endswith("ln_1.weight") else 0.0)
    return hf


def _nonlinear_hf_model(cfg: cu.GPTConfig, std: float = 1.5):
    """A Hugging Face GPT-2 whose activations are far from zero: LayerNorm gains around 1, biases
    0.2, matrices std/sqrt(fan_in). With GPT-2's own init (std 0.02) the network is nearly linear
    and attention nearly uniform, so the wrong GELU variant or softmax scale would still "match"."""
    hf = _random_hf_model(cfg)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if ".ln_" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif "wte" in name or "wpe" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            elif p.dim() == 2:  # Conv1D weights are (in, out)
                p.copy_(torch.randn(p.shape, generator=g) * std / p.shape[0] ** 0.5)
    return hf


@pytest.mark.parametrize(
    "shape",
    [dict(emb_dim=96, n_heads=4, n_layers=3, context_length=64),
     dict(emb_dim=768, n_heads=12, n_layers=2, context_length=1024)],  # GPT-2 small's width, heads, context
    ids=["small", "gpt2-small-shaped"],
)
def test_logits_match_hugging_face_with_nonlinear_weights(shape):
    cfg = cu.GPTConfig(vocab_size=50257, drop_rate=0.0, **shape)
    hf = _nonlinear_hf_model(cfg)
    ours = cu.load_hf_gpt2_weights(cu.GPTModel(cfg), hf.state_dict()).eval()
    ids = torch.randint(0, 50257, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(ids).logits
        got, attention = ours(ids, return_attention=True)
        fast = ours(ids)
    # only meaningful if the reference is far from trivial: large logits, peaked attention
    assert expected.std() > 0.5
    assert attention[0].max() > 0.5 and attention[-1].max() > 0.5
    tol = dict(atol=1e-5 * expected.abs().max().item(), rtol=1e-5)
    torch.testing.assert_close(got, expected, **tol)  # explicit attention path
    torch.testing.assert_close(fast, expected, **tol)  # F.scaled_dot_product_attention path


@pytest.fixture
def parity_cfg():
    return cu.GPTConfig(vocab_size=50257, context_length=64, emb_dim=96, n_heads=4, n_layers=3, drop_rate=0.0)


def test_logits_match_hugging_face(parity_cfg, tmp_path):
    hf = _random_hf_model(parity_cfg)
    hf.save_pretrained(tmp_path)  # writes model.safetensors
    assert (tmp_path / "model.safetensors").exists()
    ours = cu.load_hf_gpt2_weights(cu.GPTModel(parity_cfg), tmp_path / "model.safetensors").eval()
    ids = torch.randint(0, 50257, (2, 40))
    with torch.no_grad():
        expected = hf(ids).logits
        got = ours(ids)
        got_explicit = ours.set_attention_path(False)(ids)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(got_explicit, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("which", ["lm_head", "base"])
def test_loads_state_dicts(parity_cfg, which):
    hf = _random_hf_model(parity_cfg)
    sd = hf.state_dict() if which == "lm_head" else hf.transformer.state_dict()
    ours = cu.load_hf_gpt2_weights(cu.GPTModel(parity_cfg), sd).eval()
    ids = torch.randint(0, 50257, (1, 10))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf(ids).logits, atol=1e-5, rtol=0)


def test_shape_mismatch_names_the_tensor(parity_cfg):
    sd = _random_hf_model(parity_cfg).state_dict()
    wider = cu.GPTModel(parity_cfg.replace(emb_dim=128))
    with pytest.raises(ValueError, match=r"'wte.weight' has shape \(50257, 96\).*\(50257, 128\)"):
        cu.load_hf_gpt2_weights(wider, sd)
    deeper = cu.GPTModel(parity_cfg.replace(n_layers=4))
    with pytest.raises(ValueError, match="no tensor 'h.3.ln_1.weight'"):
        cu.load_hf_gpt2_weights(deeper, sd)
    shallower = cu.GPTModel(parity_cfg.replace(n_layers=2))
    with pytest.raises(ValueError, match="'h.2."):
        cu.load_hf_gpt2_weights(shallower, sd)


def test_checkpoint_round_trip(tiny_cfg, tmp_path):
    model = cu.GPTModel(tiny_cfg).eval()
    path = cu.save_checkpoint(model, tmp_path / "m.safetensors", meta={"step": 7})
    loaded = cu.load_checkpoint(path)
    assert loaded.cfg == tiny_cfg and not loaded.training
    assert loaded.out_head.weight is loaded.tok_emb.weight
    ids = torch.randint(0, 50257, (2, 9))
    torch.testing.assert_close(loaded(ids), model(ids), atol=0, rtol=0)
    assert cu.read_checkpoint(path).meta == {"step": 7}
    # the tied head is stored once, no pickle in the file
    ck = cu.read_checkpoint(path)
    assert "out_head.weight" not in ck.state_dict
    assert b"__reduce__" not in path.read_bytes() and path.read_bytes()[8:9] == b"{"


def test_read_config_reads_the_header_alone(tiny_cfg, tmp_path, monkeypatch):
    """``read_config``: a checkpoint's model shape without loading a tensor (a teacher's or init_from's
    shape is checked before a run); a file that is not a course checkpoint is the same clear error."""
    import course_utils.weights.checkpoints as ckpts

    path = cu.save_checkpoint(cu.GPTModel(tiny_cfg), tmp_path / "m.safetensors")
    monkeypatch.setattr(ckpts, "read_safetensors", lambda p: pytest.fail("read_config loaded tensors"))
    assert cu.weights.read_config(path) == tiny_cfg
    for name, content in [("garbage", b"\x00" * 100), ("truncated", path.read_bytes()[:6])]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match="damaged"):
            cu.weights.read_config(tmp_path / name)
    with pytest.raises(ValueError, match="no checkpoint at"):
        cu.weights.read_config(tmp_path / "absent.safetensors")


def test_checkpoint_bf16_storage(tiny_cfg, tmp_path):
    model = cu.GPTModel(tiny_cfg)
    path = cu.save_checkpoint(model, tmp_path / "m.safetensors", dtype=torch.bfloat16)
    loaded = cu.load_checkpoint(path)
    assert loaded.tok_emb.weight.dtype == torch.float32
    torch.testing.assert_close(loaded.tok_emb.weight, model.tok_emb.weight.to(torch.bfloat16).float())


def test_checkpoint_refuses_what_it_cannot_store(tiny_cfg, tmp_path):
    model = cu.GPTModel(tiny_cfg)
    with pytest.raises(ValueError, match="dtype must be a floating-point type .*got torch.int8"):
        cu.save_checkpoint(model, tmp_path / "m.safetensors", dtype=torch.int8)
    with pytest.raises(ValueError, match="dtype must be a floating-point type"):
        cu.save_checkpoint(model, tmp_path / "m.safetensors", dtype="bfloat16")
    model.out_head.weight = torch.nn.Parameter(model.tok_emb.weight.detach().clone())  # untied
    with pytest.raises(ValueError, match="out_head is not tied to tok_emb; course checkpoints store GPT-2's tied"):
        cu.save_checkpoint(model, tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="saves a GPTModel, got Linear"):
        cu.save_checkpoint(torch.nn.Linear(2, 2), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_load_checkpoint_onto_a_missing_device(tiny_cfg, tmp_path, monkeypatch):
    path = cu.save_checkpoint(cu.GPTModel(tiny_cfg), tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="unknown device 'gpu'; use auto, cpu, cuda, cuda:N or mps"):
        cu.load_checkpoint(path, device="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="there is no CUDA GPU here; use --device cpu"):
        cu.load_checkpoint(path, device="cuda")
    assert cu.load_checkpoint(path, device=torch.device("cpu")).device == torch.device("cpu")


def test_checkpoint_with_other_config_is_refused(tiny_cfg, tmp_path):
    path = cu.save_checkpoint(cu.GPTModel(tiny_cfg), tmp_path / "m.safetensors")
    other = cu.GPTModel(tiny_cfg.replace(n_layers=3))
    with pytest.raises(ValueError, match="another config.*n_layers: 2 vs 3"):
        cu.load_checkpoint(path, other)


def test_truncated_checkpoint_is_refused(tiny_cfg, tmp_path):
    path = cu.save_checkpoint(cu.GPTModel(tiny_cfg), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="damaged"):
        cu.load_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="damaged"):
        cu.load_checkpoint(path)


def test_damaged_hf_weights_file_is_a_clear_error(parity_cfg, tmp_path):
    good = tmp_path / "pytorch_model.bin"
    torch.save(_random_hf_model(parity_cfg).state_dict(), good)
    data = good.read_bytes()
    for name, content in [("garbage.bin", b"not a pickle at all" * 10), ("half.bin", data[: len(data) // 2])]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match="damaged or not a PyTorch weights file") as err:
            cu.load_hf_gpt2_weights(cu.GPTModel(parity_cfg), tmp_path / name)
        assert "weights_only=False" not in str(err.value)  # torch's unsafe advice is not passed on


def test_hf_file_is_not_mistaken_for_a_checkpoint(parity_cfg, tmp_path):
    _random_hf_model(parity_cfg).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="load_hf_gpt2_weights"):
        cu.load_checkpoint(tmp_path / "model.safetensors")


def test_checkpoint_is_flushed_to_disk_before_the_rename(tiny_cfg, tmp_path, monkeypatch):
    """The data is fsynced under the temporary name, then renamed, then the folder is fsynced: after a
    power cut the file is the old one or the complete new one."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.fstat(fd).st_ino))  # which file or folder (a rename keeps the inode)
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = cu.save_checkpoint(cu.GPTModel(tiny_cfg), tmp_path / "m.safetensors")
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    (_, synced), (_, tmp, dst), (_, folder) = events
    assert synced == os.stat(path).st_ino  # the data, under the temporary name...
    assert Path(tmp).parent == tmp_path and Path(tmp).name != path.name and dst == str(path)  # ...renamed
    assert folder == os.stat(tmp_path).st_ino  # then the folder that holds the new name


def test_failed_write_leaves_previous_checkpoint(tiny_cfg, tmp_path, monkeypatch):
    model = cu.GPTModel(tiny_cfg)
    path = cu.save_checkpoint(model, tmp_path / "m.safetensors", meta={"version": 1})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        cu.save_checkpoint(model, path, meta={"version": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left behind


def test_public_names_survive_the_split_into_a_package():
    import course_utils.weights as w

    for name in ["Checkpoint", "atomic_write", "copy_state_into", "load_checkpoint", "load_course_model",
                 "load_hf_gpt2_weights", "read_checkpoint", "read_config", "save_checkpoint", "FORMAT", "EXTRA_PREFIX", "TIED_KEY",
                 "gpt2_weights_path", "load_gpt2", "load_gpt2_or_course_model"]:
        assert hasattr(w, name), name
    for name in ["gpt2_weights_path", "load_gpt2", "load_gpt2_or_course_model"]:
        assert getattr(cu, name) is getattr(w, name)


@pytest.mark.parametrize("package", ["generate", "weights"])
def test_modules_are_short_and_import_no_private_names(package):
    import ast

    folder = Path(cu.__file__).parent / package
    for path in sorted(folder.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") <= 400, f"{path.name} has {text.count(chr(10))} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.level > 0:  # from .x / ..x import ...
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports private names {private} from {node.module}"
