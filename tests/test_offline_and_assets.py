"""Offline first: every shipped asset is checked against its sha256 when it is loaded, and
everything the course loads (tokenizer, corpus, trained model, generation, training) works with
the network blocked."""

import shutil
import urllib.request

import pytest
import torch

import course_utils as cu
from course_utils import assets, data, tokenizer
from course_utils.train import TrainConfig, train

CASES = [
    ("tokenizer/gpt2.tiktoken", lambda: cu.get_tokenizer()),
    ("checkpoints/course_model.safetensors", lambda: cu.load_course_model()),
    ("data/shakespeare/hamlet.txt", lambda: data.load_corpus.__wrapped__()),
]


def _clear_caches(request):
    for cached in (assets.load_manifest, assets._verified, tokenizer._build, data.load_corpus):
        cached.cache_clear()
        request.addfinalizer(cached.cache_clear)


@pytest.mark.parametrize(("rel", "load"), CASES, ids=[c[0] for c in CASES])
def test_a_changed_shipped_asset_is_refused_when_loaded(rel, load, tmp_path, monkeypatch, request):
    fake = tmp_path / "assets"
    shutil.copytree(assets.ASSETS_DIR, fake, symlinks=True, ignore=shutil.ignore_patterns("gpt2-124M"))
    victim = fake / rel
    blob = bytearray(victim.read_bytes())
    blob[len(blob) // 2] ^= 0x01  # one bit, same size: only the sha256 can tell
    victim.write_bytes(bytes(blob))
    monkeypatch.setattr(assets, "ASSETS_DIR", fake)
    monkeypatch.setattr(assets, "MANIFEST_PATH", fake / "MANIFEST.json")
    _clear_caches(request)
    with pytest.raises(cu.AssetError, match=rel.split("/")[-1]):
        load()


def test_the_network_block_really_blocks(no_network):
    with pytest.raises(Exception, match="network access attempted"):
        urllib.request.urlopen("http://example.com", timeout=1)


def test_everything_the_course_loads_works_offline(no_network, tmp_path, request):
    _clear_caches(request)  # load every file again, now without a network
    corpus = data.load_corpus()
    model = cu.load_course_model()
    prompt = cu.text_to_ids("ROMEO.")
    assert cu.generate(model, prompt, 5).shape == (1, prompt.shape[1] + 5)
    ids = corpus.token_ids("train", max_tokens=5_000)
    vocab, relabelled = torch.unique(ids, return_inverse=True)
    cfg = cu.GPTConfig(vocab_size=len(vocab), context_length=16, emb_dim=16, n_heads=2, n_layers=1, drop_rate=0.0)
    result = train(cfg, TrainConfig(max_steps=1, batch_size=4, eval_interval=0, eval_batches=1, device="cpu"),
                   train_ids=relabelled, val_ids=relabelled, out_dir=tmp_path / "run", progress=False)
    assert result.step == 1 and (tmp_path / "run" / "latest.safetensors").exists()


# Where the assets are found: COURSE_ASSETS_DIR, then a checkout's assets/, then the copy a wheel
# carries (course_utils/_assets/). Each case loads a copy of assets.py from a fake layout, so
# `__file__` and the folders around it are that layout's (tests/test_wheel.py does it for real).


def _assets_module_in(site, name):
    import importlib.util

    (site / "course_utils").mkdir(parents=True, exist_ok=True)
    shutil.copy(assets.__file__, site / "course_utils" / "assets.py")
    spec = importlib.util.spec_from_file_location(name, site / "course_utils" / "assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _one_file_assets(folder, text=b"the shipped file\n"):
    (folder / "tokenizer").mkdir(parents=True)
    (folder / "tokenizer" / "x.txt").write_bytes(text)
    entry = {"path": "tokenizer/x.txt", "sha256": assets.sha256_of(folder / "tokenizer" / "x.txt")}
    (folder / "MANIFEST.json").write_text(__import__("json").dumps({"files": [entry]}))


def test_assets_are_looked_for_in_env_then_checkout_then_package(tmp_path):
    pkg = tmp_path / "course_utils"
    _one_file_assets(pkg / "_assets")
    assert assets.locate_assets({}, pkg) == (pkg / "_assets", "package")
    _one_file_assets(tmp_path / "assets")  # an `assets` folder beside the package, but no pyproject.toml:
    assert assets.locate_assets({}, pkg) == (pkg / "_assets", "package")  # site-packages, not a checkout
    (tmp_path / "pyproject.toml").write_text("")
    assert assets.locate_assets({}, pkg) == (tmp_path / "assets", "checkout")
    env = {"COURSE_ASSETS_DIR": str(tmp_path / "mine")}
    assert assets.locate_assets(env, pkg) == (tmp_path / "mine", "env")
    assert assets.locate_assets({"COURSE_ASSETS_DIR": ""}, pkg)[1] == "checkout"  # empty = unset
    assert assets.locate_assets({}, tmp_path / "elsewhere" / "course_utils")[1] == "none"


def test_this_checkout_uses_its_own_assets_folder():
    if assets.ASSETS_SOURCE == "env":
        pytest.skip("COURSE_ASSETS_DIR is set for this test run")
    assert assets.ASSETS_SOURCE == "checkout"
    assert assets.assets_dir() == assets.ASSETS_DIR == assets.Path(__file__).resolve().parent.parent / "assets"
    assert assets.user_files_dir() == assets.assets_dir()  # checkpoints/gpt2-124M/ in the checkout (git-ignored)


def test_an_installed_course_without_assets_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_ASSETS_DIR", raising=False)
    bare = _assets_module_in(tmp_path / "site-packages", "bare_assets")
    assert bare.ASSETS_SOURCE == "none"
    with pytest.raises(bare.AssetError, match=r"assets were not found.*reinstall the course with `pip install"):
        bare.load_manifest()


def test_the_packaged_copy_is_verified_and_says_how_to_repair_it(tmp_path, monkeypatch):
    monkeypatch.delenv("COURSE_ASSETS_DIR", raising=False)
    site = tmp_path / "site-packages"
    _one_file_assets(site / "course_utils" / "_assets")
    installed = _assets_module_in(site, "installed_assets")
    assert (installed.ASSETS_SOURCE, installed.assets_dir()) == ("package", site / "course_utils" / "_assets")
    assert installed.asset_path("tokenizer/x.txt").read_bytes() == b"the shipped file\n"
    # pip byte-compiles figures/make_figures.py when it installs the wheel: not an unlisted asset
    (installed.assets_dir() / "figures" / "__pycache__").mkdir(parents=True)
    (installed.assets_dir() / "figures" / "__pycache__" / "make_figures.cpython-311.pyc").write_bytes(b"")
    assert installed.check_all() == []
    (installed.assets_dir() / "tokenizer" / "x.txt").write_bytes(b"the shipped fil3\n")
    with pytest.raises(installed.AssetError, match=r"x.txt has sha256 .*The installed course is damaged: reinstall"):
        installed.asset_path("tokenizer/x.txt")
    with pytest.raises(installed.AssetError, match="run it in a checkout"):
        installed.update_manifest()
    # a user's own downloads go to their home, not into the (often read-only) installed package
    assert installed.user_files_dir({"XDG_DATA_HOME": str(tmp_path / "xdg")}) == tmp_path / "xdg" / "course_utils"
    assert installed.user_files_dir({}) == assets.Path.home() / ".local" / "share" / "course_utils"


def test_course_assets_dir_is_used_as_given_and_named_in_the_hint(tmp_path, monkeypatch):
    _one_file_assets(tmp_path / "mine")
    monkeypatch.setenv("COURSE_ASSETS_DIR", str(tmp_path / "mine"))
    mine = _assets_module_in(tmp_path / "site-packages", "env_assets")
    assert (mine.ASSETS_SOURCE, mine.assets_dir()) == ("env", tmp_path / "mine")
    (tmp_path / "mine" / "tokenizer" / "x.txt").unlink()
    with pytest.raises(mine.AssetError, match=r"missing; copy assets/tokenizer/x.txt .* into COURSE_ASSETS_DIR="):
        mine.asset_path("tokenizer/x.txt")
