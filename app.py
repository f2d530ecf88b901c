"""segan's face-editing app (Gradio; also a Hugging Face Space).

The editing app arrives with the app issue, once trained models exist. Until then this entry
point says so and renders the SynthFaces contact sheet, segan's current main job.
"""

from __future__ import annotations

import sys

from segan.cli import main

if __name__ == "__main__":
    print("The segan editing app is coming; rendering the SynthFaces contact sheet meanwhile.")
    sys.exit(main(["render", "--n", "64", "--out", "sheet.png"]))
