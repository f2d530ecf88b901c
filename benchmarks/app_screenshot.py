"""The README's screenshot: the app with the bundled models, driven in headless Chromium.

Usage: python benchmarks/app_screenshot.py [--model bundled:seghgan-bisenet] [--photo astronaut]
Launches app.py's demo on a free local port, uploads the example photo, picks the expression,
presses Edit, waits for the result and saves benchmarks/results/app_screenshot.png.
Needs Debian's chromium (/usr/bin/chromium) and the playwright package.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from browser import launch_chromium

import app
from segan.studio import Studio, example_photos

IDLE = """() => [...document.querySelectorAll('[data-testid=status-tracker]')]
    .every(tracker => tracker.classList.contains('hide'))"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="bundled:seghgan-bisenet")
    p.add_argument("--photo", default="astronaut", help="example name (astronaut, synthfaces-01)")
    p.add_argument("--expression", default="happy")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "app_screenshot.png"))
    args = p.parse_args()

    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="segan-shot-"))
    studio = Studio(out_dir=work, default=args.model)
    examples = example_photos(work / "examples")
    photo = next(e for e in examples if e.stem == args.photo)
    demo = app.build_demo(studio, examples)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, **app.LAUNCH
    )
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(viewport={"width": 1280, "height": 1500})
            page.set_default_timeout(120_000)
            page.goto(url)
            page.locator("input[type=file]").first.set_input_files(str(photo))
            page.get_by_role("radio", name=args.expression, exact=True).check()
            page.wait_for_function(IDLE)
            page.get_by_role("button", name="Edit", exact=True).click()
            page.wait_for_timeout(500)
            page.wait_for_function(IDLE)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        demo.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
