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
