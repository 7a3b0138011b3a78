"""The opt-in GPT-2 124M path: download command, where the weights are found, the sha256 record,
``--model gpt2``, and the notebooks' switch, all on a small random Hugging Face GPT-2 saved where
the real one would be (the real 124M weights cannot be fetched here)."""

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch
import transformers

import course_utils as cu
from course_utils import assets
from course_utils.generate.__main__ import main as generate_main
from course_utils.weights import gpt2 as gpt2_mod
from course_utils.weights.__main__ import main as weights_main

REPO = Path(__file__).resolve().parent.parent
HELLO = [15496, 11, 616, 3290, 318, 13779]  # "Hello, my dog is cute"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A tiny random GPT2LMHeadModel saved the way the Hub serves GPT-2: model.safetensors + config.json."""
    torch.manual_seed(11)
    cfg = transformers.GPT2Config(vocab_size=50257, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    folder = tmp_path_factory.mktemp("hub")
    hf.save_pretrained(folder)
    assert {"model.safetensors", "config.json"} <= {p.name for p in folder.iterdir()}
    return hf, folder


@pytest.fixture
def assets_dir(tmp_path, monkeypatch):
    """A fresh assets folder with the tokenizer but no GPT-2 in it, and no GPT2_WEIGHTS variable."""
    (tmp_path / "assets" / "tokenizer").mkdir(parents=True)
    (tmp_path / "assets" / "tokenizer" / "gpt2.tiktoken").symlink_to(REPO / "assets" / "tokenizer" / "gpt2.tiktoken")
    monkeypatch.setattr(assets, "ASSETS_DIR", tmp_path / "assets")
    monkeypatch.delenv("GPT2_WEIGHTS", raising=False)
    return tmp_path / "assets"


@pytest.fixture
def fake_hub(hub, monkeypatch):
    """huggingface_hub replaced by one that serves the tiny model's files and counts the calls."""
    calls = []

    def hf_hub_download(repo_id, filename, **kwargs):
        calls.append((repo_id, filename))
        return str(hub[1] / filename)

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(hf_hub_download=hf_hub_download))
    return calls


def _hf_greedy(hf, ids, n):
    with torch.no_grad():
        out = hf.generate(torch.tensor([ids]), max_new_tokens=n, min_new_tokens=n, do_sample=False,
                          pad_token_id=50256, attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    return out[0].tolist()


# ---------------------------------------------------------------- the download command


def test_download_offline_is_one_clear_sentence(no_network, assets_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # an empty Hub cache: it must go to the network
    pytest.importorskip("huggingface_hub")
    assert weights_main(["download", "gpt2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: could not download GPT-2 from https://huggingface.co/openai-community/gpt2")
    assert "check the internet connection" in err and "Traceback" not in err
    assert err.count("\n") == 1  # one line
    assert cu.gpt2_weights_path() is None and not (assets_dir / "checkpoints" / "gpt2-124M" / "model.safetensors").exists()


def test_download_command_offline_in_a_fresh_process(tmp_path):
    """The real command, out of process: the Hub client in offline mode cannot fetch, so it must say so."""
    pytest.importorskip("huggingface_hub")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home"),
           "GPT2_WEIGHTS": str(tmp_path / "gpt2")}
    res = subprocess.run([sys.executable, "-m", "course_utils.weights", "download", "gpt2"],
                         capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert res.returncode == 1, res.stderr
    assert res.stderr.startswith("error: could not download GPT-2") and "Traceback" not in res.stderr
    assert not (tmp_path / "gpt2" / "model.safetensors").exists()


def test_download_without_huggingface_hub_names_the_package(assets_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    with pytest.raises(gpt2_mod.GPT2DownloadError, match="install it with `pip install huggingface_hub`"):
        cu.weights.download_gpt2(quiet=True)  # from Python: named, never installed behind the user's back
    tried = []

    def pip_offline(package):
        tried.append(package)
        return "ERROR: No matching distribution found for huggingface_hub"

    monkeypatch.setattr(gpt2_mod, "pip_install", pip_offline)
    assert weights_main(["download", "gpt2"]) == 1  # the command tries pip first
    assert tried == ["huggingface_hub"]
    err = capsys.readouterr().err
    assert err.startswith("error: downloading GPT-2 needs the huggingface_hub package and pip could not install it "
                          "(ERROR: No matching distribution found for huggingface_hub)")
    assert "pip install huggingface_hub" in err and "Traceback" not in err and err.count("\n") == 1


def test_download_stores_records_and_is_done_once(hub, fake_hub, assets_dir, capsys):
    assert weights_main(["download", "gpt2"]) == 0
    folder = assets_dir / "checkpoints" / "gpt2-124M"
    assert fake_hub == [("openai-community/gpt2", "model.safetensors"), ("openai-community/gpt2", "config.json")]
    assert cu.gpt2_weights_path() == folder / "model.safetensors"
    record = json.loads((folder / "SHA256.json").read_text())
    assert record["model.safetensors"] == assets.sha256_of(hub[1] / "model.safetensors")
    assert record["config.json"] == assets.sha256_of(folder / "config.json")
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # no temporary file left
    capsys.readouterr()
    assert weights_main(["download", "gpt2"]) == 0  # already there: checked, not fetched again
    assert len(fake_hub) == 2 and "already here" in capsys.readouterr().out


def test_a_damaged_download_is_refused(hub, assets_dir, tmp_path, monkeypatch, capsys):
    """The Hub's cache names a large file by its sha256: a copy that does not hash to it is refused."""
    blob = tmp_path / "blobs" / ("0" * 64)
    blob.parent.mkdir()
    blob.write_bytes((hub[1] / "model.safetensors").read_bytes())
    files = {"model.safetensors": blob, "config.json": hub[1] / "config.json"}
    fake = types.SimpleNamespace(hf_hub_download=lambda repo_id, filename, **kw: str(files[filename]))
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    assert weights_main(["download", "gpt2"]) == 1
    assert "download was damaged" in capsys.readouterr().err
    assert cu.gpt2_weights_path() is None


# ---------------------------------------------------------------- finding, checking and loading


def test_loaded_model_is_the_downloaded_one(hub, fake_hub, assets_dir):
    download_and_compare(hub)


def download_and_compare(hub):
    cu.weights.download_gpt2(quiet=True)
    model = cu.load_gpt2()
    assert model.cfg.n_layers == 2 and model.cfg.emb_dim == 32 and model.cfg.context_length == 64  # from config.json
    assert not model.training
    ids = torch.tensor([HELLO])
    with torch.no_grad():
        torch.testing.assert_close(model(ids), hub[0](ids).logits, rtol=1e-4, atol=1e-4)


def test_weights_are_found_by_variable_file_or_folder(hub, fake_hub, assets_dir, tmp_path, monkeypatch):
    folder = tmp_path / "elsewhere"
    monkeypatch.setenv("GPT2_WEIGHTS", str(folder))
    assert cu.gpt2_weights_path() is None
    download_and_compare(hub)
    assert cu.gpt2_weights_path() == folder / "model.safetensors"
    assert not (assets_dir / "checkpoints").exists()  # the variable wins over assets/
    monkeypatch.setenv("GPT2_WEIGHTS", str(folder / "model.safetensors"))  # the file itself
    assert cu.gpt2_weights_path() == folder / "model.safetensors"
    assert cu.load_gpt2().cfg.n_layers == 2


def test_a_changed_file_is_refused(hub, fake_hub, assets_dir):
    path = cu.weights.download_gpt2(quiet=True)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # one bit of the last weight
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"was recorded when it was downloaded: the file is damaged or was changed.*"
                                         r"make gpt2"):
        cu.load_gpt2()
    with pytest.raises(ValueError, match="damaged or was changed"):
        cu.load_gpt2_or_course_model()  # the switch does not quietly fall back to the course model
    (path.parent / "SHA256.json").unlink()
    with pytest.raises(ValueError, match="has no sha256 record"):
        cu.load_gpt2()


def test_absent_weights_say_how_to_get_them(assets_dir):
    with pytest.raises(FileNotFoundError, match=r"not downloaded \(looked for .*gpt2-124M/model.safetensors\); "
                                                r"run `make gpt2` once \(needs internet"):
        cu.load_gpt2()


# ---------------------------------------------------------------- --model gpt2 and the notebooks' switch


def test_cli_model_gpt2_uses_the_downloaded_weights(hub, fake_hub, assets_dir, capsys):
    cu.weights.download_gpt2(quiet=True)
    argv = ["--model", "gpt2", "--prompt", "Hello, my dog is cute", "--temperature", "0", "--max-new-tokens", "8"]
    assert generate_main(argv) == 0
    expected = _hf_greedy(hub[0], HELLO, 8)
    assert len(expected) == len(HELLO) + 8
    ends = 50256 in expected[len(HELLO):]
    text = cu.ids_to_text(expected[: expected.index(50256)] if ends else expected)
    assert capsys.readouterr().out == text + "\n"


def test_cli_model_gpt2_without_weights_is_one_line(assets_dir, capsys):
    with pytest.raises(SystemExit) as e:
        generate_main(["--model", "gpt2", "--prompt", "Hi"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: OpenAI's GPT-2 124M weights are not downloaded") and "make gpt2" in err
    assert err.count("\n") == 1


def test_the_notebooks_switch(hub, fake_hub, assets_dir, monkeypatch):
    monkeypatch.setattr(gpt2_mod, "load_course_model", lambda device="cpu": cu.GPTModel(
        cu.GPTConfig(vocab_size=50257, context_length=16, emb_dim=16, n_heads=2, n_layers=4, drop_rate=0.0)).eval())
    model, line = cu.load_gpt2_or_course_model()
    assert model.cfg.n_layers == 4
    assert line == ("Using the course model (4 layers, trained on Shakespeare). For OpenAI's GPT-2 124M run "
                    "`make gpt2` once (needs internet).")
    cu.weights.download_gpt2(quiet=True)
    model, line = cu.load_gpt2_or_course_model()
    assert model.cfg.n_layers == 2 and model.cfg.emb_dim == 32  # the "downloaded GPT-2"
    assert line == "Using OpenAI's GPT-2 124M (downloaded weights). Without them the course model is used."


def test_the_switch_with_the_shipped_course_model(assets_dir, monkeypatch):
    monkeypatch.setattr(assets, "ASSETS_DIR", REPO / "assets")  # the real assets, no GPT-2 looked for there
    monkeypatch.setattr(gpt2_mod, "gpt2_weights_path", lambda: None)
    model, line = cu.load_gpt2_or_course_model()
    assert line.startswith(f"Using the course model ({model.cfg.n_layers} layers")


# ---------------------------------------------------------------- the real weights, when present


def test_real_gpt2_124m_continues_the_published_reference(monkeypatch):
    path = cu.gpt2_weights_path()
    if path is None:
        pytest.skip("OpenAI's GPT-2 124M is not downloaded (run `make gpt2` with internet to run this test)")
    model = cu.load_gpt2()
    if model.cfg.n_layers != 12 or model.cfg.emb_dim != 768:
        pytest.skip(f"the weights at {path} are not GPT-2 124M ({model.cfg.n_layers} layers)")
    out = cu.generate(model, torch.tensor([HELLO]), 13)
    assert out[0, len(HELLO):].tolist() == [13, 314, 1101, 407, 1654, 611, 673, 338, 257, 26188, 393, 407, 13]
