"""Make ``generation_frames.gif`` (and the frame data ``generation_frames.json``) from the shipped model.

Generation frame by frame, drawn after Jay Alammar's "The Illustrated GPT-2"
(https://jalammar.github.io/illustrated-gpt2/): the newest token's column rises through the blocks
(each labelled with its logit-lens reading), the final scores, the pick, "append and repeat".
Greedy, so the frames are the same on every run. Re-run it whenever the shipped model changes
(``tests/test_lens.py`` fails until you do); it also records the two files' new sha256 and size
in ``assets/MANIFEST.json`` (their entries only):

    .venv/bin/python assets/figures/make_generation_animation.py     # or: make figures
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
GIF, DATA = HERE / "generation_frames.gif", HERE / "generation_frames.json"
PROMPT = "ROMEO.\n"  # a speaker's name as the plays in the corpus write it
STEPS = 8
FRAME_MS = 2200


def frame_data(model) -> dict:
    """What the animation shows, as plain data (probabilities rounded to 4 decimals)."""
    from course_utils import text_to_ids
    from course_utils.assets import load_manifest
    from course_utils.lens import frames_as_data, generation_frames

    frames = generation_frames(model, text_to_ids(PROMPT), STEPS)
    model_sha = {f["path"]: f["sha256"] for f in load_manifest()["files"]}["checkpoints/course_model.safetensors"]
    return {"prompt": PROMPT, "steps": STEPS, "model_sha256": model_sha, "frames": frames_as_data(frames)}


def render(model):
    """(frame data, list of PIL images), one image per generation step."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from course_utils import text_to_ids
    from course_utils.lens import generation_frames, plot_frame

    images = []
    for frame in generation_frames(model, text_to_ids(PROMPT), STEPS):
        fig = plot_frame(frame)
        fig.set_dpi(80)
        fig.canvas.draw()
        rgb = Image.frombuffer("RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba()).convert("RGB")
        plt.close(fig)
        images.append(rgb.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
    return images


def update_manifest() -> None:
    """Record the gif's and the json's sha256 and size in assets/MANIFEST.json; other entries untouched."""
    from course_utils.assets import MANIFEST_PATH, sha256_of

    manifest = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    entries = {e["path"]: e for e in manifest["files"]}
    source = "made by assets/figures/make_generation_animation.py from checkpoints/course_model.safetensors"
    for path, what in ((GIF, "the animation"), (DATA, "the frame data the animation shows")):
        rel = f"figures/{path.name}"
        if rel not in entries:
            entries[rel] = {"path": rel, "source": f"{source} ({what})", "licence": "MIT (this course)"}
            manifest["files"].append(entries[rel])
        entries[rel]["sha256"], entries[rel]["bytes"] = sha256_of(path), path.stat().st_size
    MANIFEST_PATH.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    from course_utils import load_course_model

    model = load_course_model()
    data = frame_data(model)
    images = render(model)
    images[0].save(GIF, save_all=True, append_images=images[1:], duration=FRAME_MS, loop=0, optimize=False)
    DATA.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    update_manifest()
    print(f"wrote {GIF} ({GIF.stat().st_size:,} bytes, {len(images)} frames), {DATA} and their manifest entries")


if __name__ == "__main__":
    main()
