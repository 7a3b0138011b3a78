"""Packaging: everything is in pyproject.toml except one step, done here.

A wheel (``pip install .``, ``pip wheel .``, ``pip install git+<url>``, or a wheel built from the sdist)
carries the course's assets: every file listed in ``assets/MANIFEST.json``, and the manifest, are
copied to ``course_utils/_assets/`` in the build, each checked against its sha256 first, so a
damaged asset stops the build instead of shipping. ``assets/`` at the repository root stays the
single source: an editable install (``pip install -e .``, ``make lab``) copies nothing and reads it
in place. Files the manifest does not list (a user's own GPT-2 download) are never packaged.
"""

import hashlib
import json
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ASSETS = Path(__file__).resolve().parent / "assets"
PACKAGED = Path("course_utils") / "_assets"  # inside the build folder; course_utils/assets.py looks here


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class build_py_with_assets(build_py):
    def run(self):
        editable = getattr(self, "editable_mode", False)  # reads the checkout's assets/ in place
        if not editable:
            # a build folder reused from an earlier build may hold modules since moved or deleted
            shutil.rmtree(Path(self.build_lib) / "course_utils", ignore_errors=True)
        super().run()
        if editable:
            return
        manifest_path = ASSETS / "MANIFEST.json"
        if not manifest_path.is_file():
            raise SystemExit(f"error: {manifest_path} is missing: build the course from a full checkout or its sdist")
        entries = json.loads(manifest_path.read_text(encoding="utf-8"))["files"]
        target = Path(self.build_lib) / PACKAGED
        for entry in entries:
            rel, src = entry["path"], ASSETS / entry["path"]
            if not src.is_file() or _sha256(src) != entry["sha256"]:
                problem = "is missing" if not src.is_file() else "does not match its sha256 in MANIFEST.json"
                raise SystemExit(
                    f"error: assets/{rel} {problem}; restore it (`git checkout -- assets/{rel}`) before building"
                )
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / rel)
        shutil.copy2(manifest_path, target / "MANIFEST.json")


setup(cmdclass={"build_py": build_py_with_assets})
