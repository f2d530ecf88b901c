"""The app over tiny untrained models (64 px) in a process of its own (launched by the load
test in test_app.py), so that its memory is the server's alone: `python _app_server.py PORT
FOLDER` prints "ready" once it serves on 127.0.0.1:PORT and serves until killed. It starts
as app.main() does (malloc arenas capped)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ["HF_HUB_OFFLINE"] = "1"

import torch
from tiny import tiny_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # app.py
import app
from segan.pipeline import EditPipeline
from segan.studio import Studio, example_photos, limit_malloc_arenas

MODELS = {"stargan": "stargan_synthfaces", "ganimation": "ganimation_synthfaces"}


def main(port: int, folder: Path) -> None:
    limit_malloc_arenas()  # as app.main() does
    torch.manual_seed(0)
    parser = tiny_model("bisenet_synthfaces", 64)
    regressor = tiny_model("regressor_synthfaces", 64)
    studio = Studio([], out_dir=folder / "out")
    for spec, config in MODELS.items():
        studio.add(spec, EditPipeline(tiny_model(config, 64), parser, regressor, name=spec))
    demo = app.build_demo(studio, example_photos(folder / "examples"))
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **app.LAUNCH,
    )
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]))
