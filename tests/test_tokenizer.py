import shutil

import pytest
import torch

import course_utils as cu
from course_utils import assets, tokenizer


def test_hello_world_is_gpt2s_four_ids():
    tok = cu.get_tokenizer()
    assert tok.encode("Hello, world!") == [15496, 11, 995, 0]
    assert tok.n_vocab == 50257
    assert tok.eot_token == 50256
    assert cu.text_to_ids("Hello, world!").tolist() == [[15496, 11, 995, 0]]


@pytest.mark.parametrize(
    "text",
    [
        "Grüße aus Köln, naïve café, 東京, Ελληνικά",
        "emoji 🤖🎉 and a family 👩‍👩‍👧",
        "tabs\t\tand   many    spaces\n\n\n  and trailing   ",
        "",
        "first<|endoftext|>second",
    ],
)
def test_decoding_the_ids_gives_back_the_exact_text(text):
    ids = cu.text_to_ids(text, allow_special=True)
    assert ids.dtype == torch.long and ids.shape[0] == 1
    assert cu.ids_to_text(ids[0]) == text


def test_endoftext_is_one_id_when_allowed():
    ids = cu.text_to_ids("a<|endoftext|>b", allow_special=True)[0].tolist()
    assert 50256 in ids and len(ids) == 3


def test_endoftext_refused_unless_allowed():
    with pytest.raises(ValueError, match="allow_special=True"):
        cu.text_to_ids("the end<|endoftext|>")


def test_a_list_of_texts_is_one_batch_and_unequal_lengths_are_refused():
    ids = cu.text_to_ids(["one two", "three four"])
    assert ids.shape == (2, 2)
    assert cu.ids_to_text(ids) == ["one two", "three four"]
    with pytest.raises(ValueError, match="different numbers of tokens"):
        cu.text_to_ids(["short", "a much longer text"])


def test_ids_to_text_rejects_bad_ids():
    with pytest.raises(ValueError, match="outside the vocabulary"):
        cu.ids_to_text([1, 2, 50257])
    with pytest.raises(ValueError, match="must be integers"):
        cu.ids_to_text(torch.tensor([1.0, 2.0]))


def test_works_with_network_blocked(no_network):
    tokenizer._build.cache_clear()
    assets._verified.cache_clear()
    tok = cu.get_tokenizer()
    assert tok.encode("offline") == [2364, 1370]


def test_tampered_ranks_are_refused(tmp_path):
    bad = tmp_path / "gpt2.tiktoken"
    shutil.copy(assets.ASSETS_DIR / "tokenizer" / "gpt2.tiktoken", bad)
    data = bytearray(bad.read_bytes())
    data[100] ^= 1
    bad.write_bytes(bytes(data))
    with pytest.raises(cu.AssetError, match="sha256.*outside the course's assets/ folder, so git cannot restore"):
        cu.get_tokenizer(bad)
    with pytest.raises(cu.AssetError, match="missing; check the path"):
        cu.get_tokenizer(tmp_path / "nope.tiktoken")


def test_a_damaged_shipped_asset_says_how_to_restore_it(tmp_path, monkeypatch):
    fake_assets = tmp_path / "assets"
    (fake_assets / "tokenizer").mkdir(parents=True)
    (fake_assets / "tokenizer" / "gpt2.tiktoken").write_bytes(b"damaged")
    monkeypatch.setattr(assets, "ASSETS_DIR", fake_assets)
    with pytest.raises(cu.AssetError, match=r"Restore it with `git checkout -- assets/tokenizer/gpt2.tiktoken`"):
        assets.verify_file(fake_assets / "tokenizer" / "gpt2.tiktoken", "0" * 64)
    with pytest.raises(cu.AssetError, match=r"missing; restore it with `git checkout -- assets/data/x.txt`"):
        assets.verify_file(fake_assets / "data" / "x.txt", "0" * 64)


def test_every_asset_matches_manifest():
    assert assets.check_all() == []
    entries = assets.load_manifest()["files"]
    assert all(e["source"] and e["licence"] and len(e["sha256"]) == 64 for e in entries)
    ranks = next(e for e in entries if e["path"] == "tokenizer/gpt2.tiktoken")
    assert ranks["sha256"] == tokenizer.GPT2_RANKS_SHA256


def test_check_all_reports_unlisted_files_but_not_a_users_gpt2_download(tmp_path, monkeypatch, request):
    (tmp_path / "tokenizer").mkdir()
    shutil.copy(assets.ASSETS_DIR / "tokenizer" / "gpt2.tiktoken", tmp_path / "tokenizer")
    manifest = assets.load_manifest()
    manifest = {**manifest, "files": [f for f in manifest["files"] if f["path"] == "tokenizer/gpt2.tiktoken"]}
    (tmp_path / "MANIFEST.json").write_text(__import__("json").dumps(manifest))
    monkeypatch.setattr(assets, "ASSETS_DIR", tmp_path)
    monkeypatch.setattr(assets, "MANIFEST_PATH", tmp_path / "MANIFEST.json")
    assets.load_manifest.cache_clear()  # it caches the real manifest
    request.addfinalizer(assets.load_manifest.cache_clear)
    assert assets.check_all() == []
    (tmp_path / "checkpoints" / "gpt2-124M").mkdir(parents=True)
    (tmp_path / "checkpoints" / "gpt2-124M" / "model.safetensors").write_bytes(b"user's own download")
    assert assets.check_all() == []  # the folder the README tells users to fill is theirs
    (tmp_path / "checkpoints" / "stray.bin").write_bytes(b"?")
    assert assets.check_all() == ["assets/checkpoints/stray.bin is not listed in assets/MANIFEST.json"]
