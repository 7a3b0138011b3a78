"""The command line, ``python -m course_utils.train``, called in-process as ``main(argv)``: options
reach the configs, errors are one line, runs are never overwritten, a run trains, resumes and exports.
(One test starts it as a real process, as a terminal would.)"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import course_utils.train.cli as cli
from course_utils import read_checkpoint
from course_utils.checks import pick_device
from course_utils.train import TrainConfig, TrainResult, main


def files_of(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def captured_train(monkeypatch):
    """Replace the training by a recorder of what main() passes to it."""
    calls = []

    def fake_train(model_cfg, cfg, **kwargs):
        calls.append((model_cfg, cfg, kwargs))
        return TrainResult(model=None, step=cfg.max_steps)

    monkeypatch.setattr(cli, "train", fake_train)
    return calls


def test_cli_options_reach_the_configs(captured_train, tmp_path):
    assert main(["--preset", "tiny", "--max-steps", "7", "--lr", "0.01", "--emb-dim", "32", "--drop-rate", "0.1",
                 "--compile", "false", "--sample-top-k", "5", "--sample-prompt", "KING.", "--micro-batch-size", "2",
                 "--out", str(tmp_path / "run"), "--stop-at", "3"]) == 0
    ((model_cfg, cfg, kwargs),) = captured_train
    assert (model_cfg.emb_dim, model_cfg.drop_rate, model_cfg.context_length) == (32, 0.1, 32)  # 32: tiny's
    assert (cfg.max_steps, cfg.lr, cfg.compile, cfg.sample_top_k, cfg.sample_prompt) == (7, 0.01, False, 5, "KING.")
    assert cfg.micro_batch_size == 2 and cfg.batch_size == 8  # 8: tiny's, not given
    assert kwargs["out_dir"] == tmp_path / "run" and kwargs["stop_at"] == 3 and kwargs["resume"] is None
    assert kwargs["command"].startswith("python -m course_utils.train --preset tiny --max-steps 7")


def test_every_train_config_field_is_an_option_of_the_right_type(captured_train, tmp_path):
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(cli.TRAIN_OPTIONS) == set(fields)  # a new TrainConfig field needs its line in the table
    defaults = TrainConfig()
    given = {"init_from": "runs/a/export.safetensors", "teachers": ["a.safetensors", "b.safetensors"]}
    expect = {name: given.get(name, 4 if getattr(defaults, name) is None else getattr(defaults, name))
              for name in fields}  # a setting whose default is None: 4, or a value of its kind
    argv = ["--preset", "tiny", "--out", str(tmp_path / "run")]
    for name, value in expect.items():
        text = (",".join(value) if isinstance(value, list) else str(value).lower() if isinstance(value, bool)
                else str(value))
        argv += [f"--{name.replace('_', '-')}", text]
    assert main(argv) == 0
    ((_, cfg, _),) = captured_train
    for name, value in expect.items():
        assert getattr(cfg, name) == value, name
        assert type(getattr(cfg, name)) is type(value), name


def test_cli_refuses_to_overwrite_a_run(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "latest.safetensors").write_bytes(b"an earlier run")
    (out / "history.json").write_text("{}")
    before = files_of(out)
    with pytest.raises(SystemExit, match="exists; pass --resume to continue it"):
        main(["--preset", "tiny", "--out", str(out)])
    assert files_of(out) == before
    with pytest.raises(SystemExit, match="--resume: no checkpoint at"):
        main(["--preset", "tiny", "--out", str(tmp_path / "new"), "--resume"])
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--n-heads", "5"], "must be divisible by n_heads"),
     (["--batch-size", "0"], "batch_size must be a positive whole number"),
     (["--lr", "-1"], "need 0 < min_lr <= lr"),
     (["--device", "gpu"], "unknown device 'gpu'"),
     (["--stop-at", "0"], "stop_at must be a whole number >= 1")],
)
def test_cli_bad_flag_is_one_line_not_a_traceback(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--preset", "tiny", "--out", str(tmp_path / "run"), *flags])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_cli_errors_inside_training_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        main(["--preset", "tiny", "--out", str(tmp_path / "a"), "--device", "cuda"])
    assert exc.value.code == 2 and "there is no CUDA GPU here; use --device cpu" in capsys.readouterr().err

    def diverge(*args, **kwargs):
        raise ValueError("the loss became nan at step 3 (lr 10): training diverged; lower --lr")

    monkeypatch.setattr(cli, "train", diverge)
    with pytest.raises(SystemExit) as exc:
        main(["--preset", "tiny", "--out", str(tmp_path / "b")])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "error: the loss became nan at step 3 (lr 10): training diverged; lower --lr\n"


@pytest.mark.slow
def test_cli_trains_stops_resumes_and_exports(tmp_path, capsys):
    """The whole command in-process: stop at step 2, resume to 4, export the bf16 model with its record."""
    out, exported = tmp_path / "run", tmp_path / "model.safetensors"
    common = ["--preset", "tiny", "--max-steps", "4", "--eval-interval", "2", "--device", "cpu", "--out", str(out)]
    assert main([*common, "--stop-at", "2"]) == 0
    assert read_checkpoint(out / "latest.safetensors").meta["step"] == 2
    assert main([*common, "--resume", "--export", str(exported)]) == 0
    stdout = capsys.readouterr().out
    assert "step 2: train loss" in stdout and "step 4: train loss" in stdout and f"exported {exported}" in stdout
    record = json.loads(exported.with_suffix(".json").read_text())
    assert record["command"].endswith(f"--resume --export {exported}")
    assert record["final"]["step"] == 4 and record["final"]["tokens_seen"] == 4 * 8 * 32
    assert 5.0 < record["final"]["val_loss"] < 11.0  # a 4-step model: far from trained, below ln(50257) + 0.2
    assert [r["from_step"] for r in record["history"]["runs"]] == [0, 2]
    assert read_checkpoint(exported).meta["record"]["seed"] == 123


@pytest.mark.slow
def test_a_model_trained_on_with_teachers_exports_its_whole_history(tmp_path, capsys, monkeypatch):
    """--init-from an export and --teachers: the new export names those files (sha256, what trained
    them), and its history is the first model's followed by this run's, steps and tokens counted on."""
    # What is tested here is the record, not its losses: each export scores one batch of windows, not
    # all 2,305 validation windows and 100k training tokens (113 of this test's 120 s on one thread).
    # The full export is test_cli_trains_stops_resumes_and_exports; the shipped model's loss over
    # every window is checked against its record in test_train.py.
    real_evaluate = cli.evaluate
    monkeypatch.setattr(cli, "evaluate", lambda model, windows, n_batches, batch_size, **kw:
                        real_evaluate(model, windows, 1, batch_size, **kw))
    first, second = tmp_path / "first.safetensors", tmp_path / "second.safetensors"
    common = ["--preset", "tiny", "--eval-interval", "2", "--sample-interval", "2", "--device", "cpu"]
    assert main([*common, "--max-steps", "4", "--out", str(tmp_path / "a"), "--export", str(first)]) == 0
    assert main([*common, "--max-steps", "2", "--out", str(tmp_path / "b"), "--export", str(second),
                 "--init-from", str(first), "--teachers", f"{first},{first}", "--distill-weight", "0.5"]) == 0
    before = json.loads(first.with_suffix(".json").read_text())
    record = json.loads(second.with_suffix(".json").read_text())
    history = record["history"]
    assert record["final"]["step"] == 6 and record["final"]["tokens_seen"] == 6 * 8 * 32
    assert [s["step"] for s in history["steps"]] == [1, 2, 3, 4, 5, 6]
    assert [s["tokens"] for s in history["steps"]][3:5] == [4 * 256, 5 * 256]
    assert history["steps"][:4] == before["history"]["steps"]  # the first run's, unchanged
    assert [e["step"] for e in history["evals"]] == [2, 4, 6] and [s["step"] for s in history["samples"]] == [2, 4, 6]
    assert [(r["from_step"], r["to_step"]) for r in history["runs"]] == [(0, 4), (4, 6)]
    assert [p["command"] for p in record["phases"]] == [before["command"], record["command"]]
    assert record["phases"][0]["final"] == before["final"] and record["phases"][1]["final"]["step"] == 2
    init, teachers = record["sources"]["init_from"], record["sources"]["teachers"]
    assert init["path"] == str(first) and len(teachers) == 2 and teachers[1]["sha256"] == init["sha256"]
    assert init["command"] == before["command"] and init["final"] == before["final"]
    # a third run on the second's export (as attempt 12 of RESULTS.md was): three phases, one history
    third = tmp_path / "third.safetensors"
    assert main([*common, "--max-steps", "2", "--out", str(tmp_path / "c"), "--export", str(third),
                 "--init-from", str(second), "--teachers", str(first), "--seed", "124"]) == 0
    last = json.loads(third.with_suffix(".json").read_text())
    assert [p["command"] for p in last["phases"]] == [before["command"], record["command"], last["command"]]
    assert [p["final"]["step"] for p in last["phases"]] == [4, 2, 2] and last["final"]["step"] == 8
    assert last["history"]["steps"][:6] == history["steps"] and [e["step"] for e in last["history"]["evals"]] == [2, 4, 6, 8]
    assert [(r["from_step"], r["to_step"]) for r in last["history"]["runs"]] == [(0, 4), (4, 6), (6, 8)]
    assert last["sources"]["init_from"]["final"] == record["final"]  # the second's whole life: 6 steps


def test_cli_bad_flag_from_a_terminal(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "course_utils.train", "--preset", "tiny", "--n-heads", "5",
                           "--out", str(tmp_path / "run")], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: ") and "n_heads (5)" in proc.stderr


def test_pick_device_accepts_known_names_and_refuses_others():
    assert pick_device("cpu") == torch.device("cpu") == pick_device(torch.device("cpu"))
    for bad in ("gpu", "cuda:x", "CPU", None):
        with pytest.raises(ValueError, match="unknown device .*; use auto, cpu, cuda, cuda:N or mps"):
            pick_device(bad)


def test_pick_device_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:1"):
        with pytest.raises(ValueError, match=f"device '{name}': there is no CUDA GPU here; use --device cpu"):
            pick_device(name)


def test_class_preset_is_the_in_class_run_of_notebook_09():
    """`--preset class` is the run notebook 09 trains (it calls preset("class")): 307,200 tokens, each
    training window at most once, with seeded samples every 100 steps. Its loss and time are measured
    in benchmarks/RESULTS.md, not here."""
    from course_utils.data import TokenWindows, load_corpus
    from course_utils.train import preset

    model_cfg, cfg = preset("class")
    tokens = cfg.max_steps * cfg.batch_size * model_cfg.context_length
    assert tokens == 307_200
    n_windows = len(TokenWindows(load_corpus().token_ids("train"), model_cfg.context_length))
    assert cfg.max_steps * cfg.batch_size <= n_windows  # one pass or less: no window is seen twice
    assert cfg.sample_interval and cfg.sample_temperature > 0 and cfg.max_steps % cfg.eval_interval == 0
    nb = json.loads((Path(__file__).resolve().parent.parent / "notebooks/09_pretraining.ipynb").read_text())
    assert any('preset("class")' in "".join(c["source"]) and "train(" in "".join(c["source"]) for c in nb["cells"])
