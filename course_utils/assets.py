"""The files the course ships in ``assets/``, each checked against its sha256 before use.

``assets/MANIFEST.json`` lists every shipped file with its sha256, size, source and licence.
Nothing in the course downloads anything: if a file is missing or changed, loading stops with
an error that says which file and how to restore it.

Where the assets are looked for, in this order (``assets_dir()`` returns the folder in use):

1. ``COURSE_ASSETS_DIR``, if set: a folder laid out like ``assets/``, used as given (a wrong
   path is reported when something is loaded, never silently passed over);
2. the repository's ``assets/``, when ``course_utils`` runs from a checkout (``make lab``,
   ``pip install -e .``): the single source, the one maintainers edit;
3. ``course_utils/_assets/`` in an installed course: building a wheel (``pip install .``,
   ``pip wheel .``, a git URL) copies the manifest and every file it lists there (``setup.py``),
   so an installed course works from any folder. Same manifest, same sha256 checks on load.

Run ``python -m course_utils.check_assets`` to check every file, or add ``--update``
(maintainers) to rewrite the hashes after deliberately changing an asset; new files in
``assets/figures/`` (our own diagrams) are added to the manifest by ``--update``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGED_ASSETS_DIR = _PACKAGE_DIR / "_assets"  # what a wheel carries (absent in a checkout)
_REINSTALL = "pip install --force-reinstall --no-deps <the wheel, folder or git URL you installed it from>"


def locate_assets(environ: Mapping[str, str] = os.environ, package_dir: Path = _PACKAGE_DIR) -> tuple[Path, str]:
    """``(folder, source)``: where the assets are and why, source being ``"env"``
    (``COURSE_ASSETS_DIR``), ``"checkout"``, ``"package"`` or ``"none"`` (not found; loading then
    raises an AssetError that says what to do)."""
    if environ.get("COURSE_ASSETS_DIR"):
        return Path(environ["COURSE_ASSETS_DIR"]), "env"
    root = package_dir.parent
    # A checkout has pyproject.toml beside course_utils/; site-packages never has, so an `assets`
    # folder that some other package dropped into site-packages is never taken for ours.
    if (root / "pyproject.toml").is_file() and (root / "assets" / "MANIFEST.json").is_file():
        return root / "assets", "checkout"
    if (package_dir / "_assets" / "MANIFEST.json").is_file():
        return package_dir / "_assets", "package"
    return package_dir / "_assets", "none"


ASSETS_DIR, ASSETS_SOURCE = locate_assets()
MANIFEST_PATH = ASSETS_DIR / "MANIFEST.json"
_FOUND_AT_IMPORT = (ASSETS_DIR, ASSETS_SOURCE)


def assets_dir() -> Path:
    """The assets folder in use: ``COURSE_ASSETS_DIR``, the checkout's ``assets/`` or the installed copy."""
    return ASSETS_DIR


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
        if (ASSETS_DIR, "none") == _FOUND_AT_IMPORT:
            raise AssetError(
                f"the course's assets were not found (no COURSE_ASSETS_DIR, no checkout's assets/ beside "
                f"{_PACKAGE_DIR}, no {PACKAGED_ASSETS_DIR.name}/ inside it): reinstall the course with "
                f"`{_REINSTALL}`, or set COURSE_ASSETS_DIR to a folder laid out like the repository's assets/"
            )
        raise AssetError(f"{MANIFEST_PATH} is missing; {_restore_hint(MANIFEST_PATH)}")
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
    """How to get a shipped file back, for the kind of assets folder in use; for a file outside
    it, that git cannot restore it."""
    try:
        relative = Path(path).resolve().relative_to(ASSETS_DIR.resolve()).as_posix()
    except ValueError:
        return "check the path: it is outside the course's assets/ folder, so git cannot restore it"
    if ASSETS_DIR == PACKAGED_ASSETS_DIR:
        return f"the installed course is damaged: reinstall it with `{_REINSTALL}`"
    if (ASSETS_DIR, "env") == _FOUND_AT_IMPORT:
        return f"copy assets/{relative} from the course repository into COURSE_ASSETS_DIR={ASSETS_DIR}, or unset it"
    return f"restore it with `git checkout -- assets/{relative}`"


# Folders a user may fill with their own files (not shipped, git-ignored, never checked):
# the official GPT-2 124M weights that notebook 10 and the README's optional section look for.
USER_DIRS = ("checkpoints/gpt2-124M",)


def user_files_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where a user's own files (``USER_DIRS``) belong: the assets folder in use, except in an
    installed course, whose package folder is often read-only (a JupyterHub image) and is replaced
    on every upgrade: there ``$XDG_DATA_HOME/course_utils`` (default ``~/.local/share/course_utils``)."""
    if ASSETS_DIR != PACKAGED_ASSETS_DIR:
        return ASSETS_DIR
    return Path(environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "course_utils"


def check_all() -> list[str]:
    """Problems with the shipped files: missing, changed, or not listed in the manifest.
    Files under ``USER_DIRS`` (a user's own downloads) are not shipped and not checked, nor is
    Python's bytecode cache (pip compiles ``figures/make_figures.py`` when it installs a wheel)."""
    problems = []
    entries = _file_entries()
    for rel, entry in entries.items():
        try:
            verify_file(ASSETS_DIR / rel, entry["sha256"])
        except AssetError as e:
            problems.append(str(e))
    for p in sorted(ASSETS_DIR.rglob("*")):
        rel = p.relative_to(ASSETS_DIR).as_posix()
        if any(rel.startswith(d + "/") for d in USER_DIRS) or "__pycache__" in p.parts:
            continue
        if p.is_file() and rel != "MANIFEST.json" and rel not in entries:
            problems.append(f"assets/{rel} is not listed in assets/MANIFEST.json")
    return problems


def update_manifest() -> None:
    """Maintainers: recompute sha256 and size of every listed file; list new figures (ours)."""
    if ASSETS_DIR == PACKAGED_ASSETS_DIR:
        raise AssetError(
            f"--update rewrites the repository's assets/MANIFEST.json, but the assets in use are the copy "
            f"inside an installed course ({ASSETS_DIR}); run it in a checkout of the course instead"
        )
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
