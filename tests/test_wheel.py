"""The course as an instructor installs it on a JupyterHub image or a lab machine: build the wheel,
install it into a fresh virtual environment, and from a folder outside the repository, with no
COURSE_ASSETS_DIR, load the tokenizer, the corpus and the trained model and generate text.

No network: every pip call passes --no-index (and --no-build-isolation, so the build uses the
setuptools already installed), and the script in the new environment blocks sockets before it
imports anything. The new environment reuses this one's pinned packages (torch, tiktoken, ...)
through a .pth file pointing at a folder of links to them, which leaves out this environment's
editable course_utils: the only course_utils the new environment can import is the wheel's.

The build runs in a copy of the packaging files, course_utils/ and assets/ (never in the working
tree: no build/ left behind, no stale files from an earlier build, no clash with another run).
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

import course_utils as cu

pytestmark = pytest.mark.slow  # builds wheels with pip: make test runs it, make test-fast does not

REPO = Path(__file__).resolve().parent.parent
# What building the course needs from the repository (MANIFEST.in names the same files for the sdist).
PROJECT_FILES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "requirements.txt"]
USERS_DOWNLOAD = "checkpoints/gpt2-124M/model.safetensors"  # never shipped, never packaged
OFFLINE = {"PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
STALE = "build/lib/course_utils/old_module.py"
PROMPT, NEW_TOKENS = "ROMEO.\n", 8


def _run(cmd, cwd, env=None, timeout=300):
    env = {k: v for k, v in (env or os.environ).items() if k not in ("COURSE_ASSETS_DIR", "PYTHONPATH")}
    res = subprocess.run(cmd, cwd=cwd, env={**env, **OFFLINE}, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{res.stdout}\n{res.stderr}"
    return res


def _manifest_paths() -> list[str]:
    return [e["path"] for e in json.loads((REPO / "assets" / "MANIFEST.json").read_text(encoding="utf-8"))["files"]]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of what the build reads, plus a user's own GPT-2 download that must not be packaged."""
    src = tmp_path_factory.mktemp("project")
    for name in PROJECT_FILES:
        shutil.copy2(REPO / name, src / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".ipynb_checkpoints", "gpt2-124M", "_assets")
    shutil.copytree(REPO / "course_utils", src / "course_utils", ignore=junk)
    shutil.copytree(REPO / "assets", src / "assets", ignore=junk)
    (src / "assets" / USERS_DOWNLOAD).parent.mkdir(parents=True)
    (src / "assets" / USERS_DOWNLOAD).write_bytes(b"a user's own download, not a shipped asset")
    (src / STALE).parent.mkdir(parents=True)  # left in the build folder by an earlier build
    (src / STALE).write_text("raise ImportError('a module deleted from the course since')\n")
    return src


@pytest.fixture(scope="module")
def wheel(project, tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(out)], cwd=project)
    (whl,) = out.glob("course_utils-*-py3-none-any.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory):
    """A fresh venv with the wheel installed; the pinned packages come from this environment."""
    root = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(root / "env")], cwd=root)
    python = root / "env" / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=root).stdout.strip())
    ours = Path(sysconfig.get_paths()["purelib"])
    shared = root / "pinned"  # links to this environment's packages, without its editable course_utils
    shared.mkdir()
    for entry in ours.iterdir():
        if not entry.name.startswith(("course_utils", "__editable__", "_course_utils")) and entry.suffix != ".pth":
            (shared / entry.name).symlink_to(entry)
    (site / "pinned-course-requirements.pth").write_text(f"{shared}\n")
    # this environment's pip installs into the new one (--python), so the new one needs no pip of its own
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
          str(wheel)], cwd=root)
    return python, site


SCRIPT = textwrap.dedent(f"""
    import json, socket

    def refuse(*args, **kwargs):
        raise RuntimeError("network access attempted")

    socket.socket.connect = socket.socket.connect_ex = refuse
    socket.create_connection = socket.getaddrinfo = refuse

    import course_utils as cu
    from course_utils import assets

    tok = cu.get_tokenizer()
    corpus = cu.load_corpus()
    model = cu.load_course_model()
    out = cu.generate(model, cu.text_to_ids({PROMPT!r}), {NEW_TOKENS})
    result = dict(
        package=cu.__file__, assets_dir=str(assets.assets_dir()), source=assets.ASSETS_SOURCE,
        hello=tok.encode("Hello, world!"), plays=len(corpus.train_plays) + len(corpus.val_plays),
        corpus_sha256=corpus.sha256, val_tokens=corpus.token_ids("val", max_tokens=500).tolist(),
        ids=out[0].tolist(), text=cu.ids_to_text(out[0]), problems=assets.check_all(),
    )
    # a damaged installed file is refused on load, with a hint that fits an installed course
    licence = assets.assets_dir() / "tokenizer" / "LICENSE.openai-whisper.txt"
    licence.write_bytes(licence.read_bytes().replace(b"MIT", b"MTI"))
    try:
        assets.asset_path("tokenizer/LICENSE.openai-whisper.txt")
    except cu.AssetError as e:
        result["damaged"] = str(e)
    print(json.dumps(result))
""")


def test_the_wheel_carries_the_assets_and_nothing_else(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {n.removeprefix("course_utils/_assets/") for n in names if n.startswith("course_utils/_assets/")}
    assert packaged == {"MANIFEST.json", *_manifest_paths()}  # the manifest, tokenizer, corpus, model, figures
    assert {"tokenizer/gpt2.tiktoken", "checkpoints/course_model.safetensors", "data/shakespeare/hamlet.txt"} <= packaged
    assert not any("gpt2-124M" in n for n in names)
    assert "course_utils/old_module.py" not in names
    assert "course_utils/assets.py" in names and "course_utils/generate/__init__.py" in names


def test_the_installed_course_works_from_any_folder_without_settings(venv, tmp_path):
    python, site = venv
    (tmp_path / "lesson.py").write_text(SCRIPT)
    res = _run([str(python), "lesson.py"], cwd=tmp_path)  # tmp_path is outside the repository
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert Path(got["package"]).parent == site / "course_utils"  # the wheel's copy, not the checkout
    assert Path(got["assets_dir"]) == site / "course_utils" / "_assets" and got["source"] == "package"
    assert got["problems"] == []  # all listed files present, each matching its sha256, nothing extra
    assert got["hello"] == [15496, 11, 995, 0]
    corpus = cu.load_corpus()
    assert (got["plays"], got["corpus_sha256"]) == (37, corpus.sha256)
    assert got["val_tokens"] == corpus.token_ids("val", max_tokens=500).tolist()
    # the same greedy continuation as the course model in this checkout gives
    expected = cu.generate(cu.load_course_model(), cu.text_to_ids(PROMPT), NEW_TOKENS)[0]
    assert got["ids"] == expected.tolist() and got["text"].startswith(PROMPT) and len(got["ids"]) > NEW_TOKENS
    assert "LICENSE.openai-whisper.txt has sha256" in got["damaged"]
    assert "reinstall it with `pip install --force-reinstall --no-deps" in got["damaged"]


def test_the_sdist_carries_what_a_complete_wheel_is_built_from(project, tmp_path):
    """`python -m build` and `pip install <sdist>` build the wheel from the sdist, so it must hold the
    assets (MANIFEST.in). The sdist packs exactly the files setuptools lists in SOURCES.txt; asking
    for that list (the PEP 517 metadata hook) saves gzipping 28 MB."""
    hook = f"from setuptools import build_meta; build_meta.prepare_metadata_for_build_wheel({str(tmp_path)!r})"
    _run([sys.executable, "-c", hook], cwd=project)
    names = set((tmp_path / "course_utils.egg-info" / "SOURCES.txt").read_text(encoding="utf-8").splitlines())
    assert {"setup.py", "pyproject.toml", "MANIFEST.in", "requirements.txt", "assets/MANIFEST.json"} <= names
    assert {f"assets/{p}" for p in _manifest_paths()} <= names
    assert "course_utils/assets.py" in names
    assert not any("gpt2-124M" in n or "__pycache__" in n or n.startswith("build/") for n in names)


def test_a_damaged_asset_stops_the_build(tmp_path):
    """A wheel must never ship a file its manifest would refuse: the build checks every sha256."""
    for name in PROJECT_FILES:
        shutil.copy2(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "course_utils", tmp_path / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "assets" / "tokenizer").mkdir(parents=True)
    shutil.copy2(REPO / "assets" / "MANIFEST.json", tmp_path / "assets")
    (tmp_path / "assets" / "tokenizer" / "gpt2.tiktoken").write_bytes(b"not the GPT-2 ranks")
    cmd = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "--no-index", "-w", "out"]
    res = subprocess.run(cmd, cwd=tmp_path, env={**os.environ, **OFFLINE}, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and not list((tmp_path / "out").glob("*.whl"))
    assert "assets/tokenizer/gpt2.tiktoken does not match its sha256 in MANIFEST.json" in res.stdout + res.stderr
