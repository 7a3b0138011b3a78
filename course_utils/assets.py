"""The files the course ships in ``assets/``, each checked against its sha256 before use.

``assets/MANIFEST.json`` lists every shipped file with its sha256, size, source and licence.
Nothing in the course downloads anything: if a file is missing or changed, loading stops with
an error that says which file and how to restore it.

Run ``python -m course_utils.check_assets`` to check every file, or add ``--update``
(maintainers) to rewrite the hashes after deliberately changing an asset; new files in
``assets/figures/`` (our own diagrams) are added to the manifest by ``--update``.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache, lru_cache
from pathlib import Path

ASSETS_DIR = Path(os.environ.get("COURSE_ASSETS_DIR", Path(__file__).resolve().parent.parent / "assets"))
MANIFEST_PATH = ASSETS_DIR / "MANIFEST.json"


class AssetError(ValueError):
    """A shipped file is missing or does not match its recorded sha256."""


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=1)
def load_manifest() -> dict:
    if not MANIFEST_PATH.exists():
        raise AssetError(f"{MANIFEST_PATH} is missing; restore it with `git checkout -- assets/`")
    return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))


def _file_entries() -> dict[str, dict]:
    return {f["path"]: f for f in load_manifest()["files"]}


@cache
def _verified(path: Path, size: int, mtime_ns: int, expected: str) -> None:
    # Cached on (size, mtime) so a notebook that loads the same file twice hashes it once,
    # while a file changed on disk is hashed again.
    actual = sha256_of(path)
    if actual != expected:
        hint = _restore_hint(path)
        raise AssetError(
            f"{path} has sha256 {actual}, but {expected} was expected: the file is damaged or was "
            f"changed. {hint[0].upper()}{hint[1:]}."
        )


def verify_file(path: str | os.PathLike, expected_sha256: str) -> Path:
    """Check ``path`` against ``expected_sha256``; return the path or raise AssetError."""
    path = Path(path)
    if not path.is_file():
        raise AssetError(f"{path} is missing; {_restore_hint(path)}")
    st = path.stat()
    _verified(path.resolve(), st.st_size, st.st_mtime_ns, expected_sha256)
    return path


def asset_path(relative: str) -> Path:
    """The path of a shipped asset (relative to ``assets/``), verified against the manifest."""
    entries = _file_entries()
    if relative not in entries:
        raise AssetError(f"{relative!r} is not listed in {MANIFEST_PATH.name}")
    return verify_file(ASSETS_DIR / relative, entries[relative]["sha256"])


def _restore_hint(path: Path) -> str:
    """How to get a shipped file back; for a file outside assets/, that git cannot restore it."""
    try:
        relative = Path(path).resolve().relative_to(ASSETS_DIR.resolve())
    except ValueError:
        return "check the path: it is outside the course's assets/ folder, so git cannot restore it"
    return f"restore it with `git checkout -- assets/{relative.as_posix()}`"


# Folders a user may fill with their own files (not shipped, git-ignored, never checked):
# the official GPT-2 124M weights that notebook 10 and the README's optional section look for.
USER_DIRS = ("checkpoints/gpt2-124M",)


def check_all() -> list[str]:
    """Problems with the shipped files: missing, changed, or not listed in the manifest.
    Files under ``USER_DIRS`` (a user's own downloads) are not shipped and not checked."""
    problems = []
    entries = _file_entries()
    for rel, entry in entries.items():
        try:
            verify_file(ASSETS_DIR / rel, entry["sha256"])
        except AssetError as e:
            problems.append(str(e))
    for p in sorted(ASSETS_DIR.rglob("*")):
        rel = p.relative_to(ASSETS_DIR).as_posix()
        if any(rel.startswith(d + "/") for d in USER_DIRS):
            continue
        if p.is_file() and rel != "MANIFEST.json" and rel not in entries:
            problems.append(f"assets/{rel} is not listed in assets/MANIFEST.json")
    return problems


def update_manifest() -> None:
    """Maintainers: recompute sha256 and size of every listed file; list new figures (ours)."""
    manifest = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    listed = {entry["path"] for entry in manifest["files"]}
    for p in sorted((ASSETS_DIR / "figures").glob("*")):
        rel = p.relative_to(ASSETS_DIR).as_posix()
        if p.is_file() and rel not in listed:
            source = "this course: drawn by assets/figures/make_figures.py or by hand"
            manifest["files"].append({"path": rel, "source": source, "licence": "MIT (this course)"})
    for entry in manifest["files"]:
        p = ASSETS_DIR / entry["path"]
        entry["sha256"] = sha256_of(p)
        entry["bytes"] = p.stat().st_size
    MANIFEST_PATH.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    load_manifest.cache_clear()
