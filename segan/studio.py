"""What the Gradio app does, without Gradio: models opened by name and kept, example photos,
the AU slider table, and the app's actions as plain functions over EditPipeline.

app.py only lays out components and wires events to `Studio`; every rule (which models exist,
what a control means, how an edit is made, what an error says) lives here and is tested
directly as well as through the app.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from segan.assets import AssetUnavailableError
from segan.bundled import PREFIX, WEIGHTS_DIR, available
from segan.data.catalog import DATASETS
from segan.labels import AU_IDS, AU_NAMES
from segan.models.base import REGISTRY
from segan.photos.aus import aus_from_blendshapes
from segan.photos.faces import NoFaceError, crop_image, detect_faces, square_box
from segan.pipeline import EditPipeline, EditResult, FaceBox, compare, expression_preset
from segan.synth.dataset import SynthFaces
from segan.visualize import to_uint8

__all__ = [
    "AU_SLIDERS",
    "LIVE_SECONDS",
    "AUSlider",
    "ModelInfo",
    "Studio",
    "bundled_editors",
    "editor_label",
    "editor_order",
    "example_photos",
    "faces_of",
    "limit_malloc_arenas",
]

LIVE_SECONDS = 0.35  # edits faster than this (measured at load) update while sliding
COMPARE_SIZE = 320  # px of each face in the comparison
COMPARE_SCALE = 1.6  # its square: this many face-box sides around the face
_M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for this process (True when set; other C libraries: False).

    A server answers each request on one of many threads; glibc gives each thread an arena of
    its own and keeps what is freed there, so resident memory climbs with every new thread a
    burst of sessions wakes although nothing is kept; two arenas keep it flat
    (docs/app-memory.md). Call it before the threads start; MALLOC_ARENA_MAX set in the
    environment wins.
    """
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
    except (OSError, TypeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # mallopt's arena cap is glibc's
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, int(arenas)))


@dataclass(frozen=True)
class AUSlider:
    au: int
    label: str  # "AU12 lip corner puller"


AU_SLIDERS: tuple[AUSlider, ...] = tuple(AUSlider(a, f"AU{a} {AU_NAMES[a]}") for a in AU_IDS)


def faces_of(dataset: str | None) -> str:
    """What kind of faces a model trained on `dataset` has seen: "real", "synthetic" or
    "unrecorded" (its config names no dataset)."""
    if dataset is None:
        return "unrecorded"
    return "real" if dataset in DATASETS else "synthetic"


def editor_order(dataset: str | None, resolution: int, name: str) -> tuple:
    """How the app lists editors: trained on real faces first, then the larger crops, then by
    name; the first one, when trained on real faces, is the one recommended for photos."""
    return (faces_of(dataset) != "real", -resolution, name)


def editor_label(name: str, dataset: str | None, resolution: int, recommended: bool) -> str:
    """The model list's entry: name, the faces it learnt from, its crop size."""
    faces = {"real": "real faces", "synthetic": "synthetic faces"}.get(faces_of(dataset))
    facts = ", ".join(f for f in (faces, f"{resolution} px" if resolution else None) if f)
    return name + (f" ({facts})" if facts else "") + (", recommended" if recommended else "")


def bundled_editors() -> list[str]:
    """`bundled:NAME` of every bundled expression editor (parsers and evaluators left out), in
    the app's order (`editor_order`)."""
    import segan.models  # noqa: F401  (registers every architecture)

    keyed = []
    for name in available():
        config = json.loads((WEIGHTS_DIR / name / "config.json").read_text())
        arch, training = config.get("architecture"), config.get("training") or {}
        if arch in REGISTRY and REGISTRY[arch].role == "editor":
            resolution = int(training.get("resolution") or config.get("image_size") or 0)
            keyed.append((editor_order(training.get("dataset"), resolution, name), PREFIX + name))
    return [spec for _, spec in sorted(keyed)]


def example_photos(folder: str | Path | None = None, n_synth: int = 3) -> list[Path]:
    """Example pictures for the app, written once into `folder`: SynthFaces test faces at
    512 px (neutral, chosen where the detector finds them) and scikit-image's astronaut
    (Eileen Collins, a NASA photo in the public domain, shipped inside scikit-image)."""
    from PIL import Image

    folder = Path(folder or Path(tempfile.gettempdir()) / "segan-examples")
    folder.mkdir(parents=True, exist_ok=True)
    paths = sorted(folder.glob("synthfaces-*.png"))[:n_synth]
    if len(paths) < n_synth:
        faces = SynthFaces("test", 64, 512)
        paths = []
        for k in range(len(faces)):
            if len(paths) == n_synth:
                break
            rgb = to_uint8(faces.pair([k], 0)["edited"])[0]  # person k, neutral
            if detect_faces(rgb):
                path = folder / f"synthfaces-{k:02d}.png"
                Image.fromarray(rgb).save(path)
                paths.append(path)
    astronaut = folder / "astronaut.png"
    if not astronaut.is_file():
        from skimage import data

        Image.fromarray(data.astronaut()).save(astronaut)
    return [*paths, astronaut]


@dataclass(frozen=True)
class ModelInfo:
    """What the app shows about a loaded model and which controls fit it."""

    spec: str
    name: str
    kind: str  # "label", "aus" or "relative_aus"
    labels: tuple[str, ...]
    seconds: float  # one warm edit of a 512 px face, measured at load
    live: bool  # fast enough to edit while sliding
    has_au_estimator: bool
    trained_on: str | None = None  # the dataset its training record names
    resolution: int = 64  # the crop size it edits

    @property
    def faces(self) -> str:
        """ "real", "synthetic" or "unrecorded" (see faces_of)."""
        return faces_of(self.trained_on)

    def describe(self) -> str:
        what = "expression labels" if self.kind == "label" else "action units"
        mode = "live while sliding" if self.live else "press Edit"
        learnt = {
            "real": f"trained on real photos ({self.trained_on}) at {self.resolution} px",
            "synthetic": (
                f"trained on synthetic faces ({self.trained_on}) at {self.resolution} px, so "
                "on a photo of a real person it changes little"
            ),
        }.get(self.faces, f"its training data is not recorded; it edits {self.resolution} px")
        return (
            f"**{self.name}** edits by {what}; {learnt}. One edit takes "
            f"{self.seconds * 1000:.0f} ms here ({mode})."
        )


class Studio:
    """The app's state shared by every session: opened pipelines, by spec, kept once loaded.

    A spec is `bundled:NAME`, a Hub repo id or a local folder. Loading a spec that fails
    raises with the reason and leaves every loaded model as it was, so a session keeps using
    the model it had.
    """

    def __init__(
        self,
        editors: Sequence[str] | None = None,
        parser: str | None = "auto",
        au_estimator: str | None = "auto",
        out_dir: str | Path | None = None,
        probe: np.ndarray | None = None,
        default: str | None = None,
    ):
        self.editors = list(editors) if editors is not None else bundled_editors()
        self._default = default  # the editor to open with, when the caller names one
        self.parser, self.au_estimator = parser, au_estimator
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="segan-app-"))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._pipelines: dict[str, EditPipeline] = {}
        self._info: dict[str, ModelInfo] = {}
        self._lock = threading.Lock()
        self._probe = probe

    # --- models ------------------------------------------------------------------------
    def add(self, spec: str, pipeline: EditPipeline) -> ModelInfo:
        """Register an already built pipeline under `spec` (tests, custom models)."""
        with self._lock:
            self._pipelines[spec] = pipeline
            self._info[spec] = self._measure(spec, pipeline)
            if spec not in self.editors:
                self.editors.append(spec)
            return self._info[spec]

    def load(self, spec: str) -> ModelInfo:
        """Open (or reuse) the model `spec`; raises ValueError naming the problem."""
        spec = (spec or "").strip()
        if not spec:
            raise ValueError("give a bundled model, a Hub repo id or a local folder")
        if spec in self._info:
            return self._info[spec]
        try:
            pipeline = EditPipeline.load(spec, self.parser, self.au_estimator)
        except TypeError as err:  # not an editor (a parser or an evaluator)
            raise ValueError(f"{spec}: {err}") from None
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"cannot load {spec!r}: {err}") from None
        return self.add(spec, pipeline)

    def facts(self, spec: str) -> tuple[str | None, int]:
        """(training dataset, crop size) of editor `spec`, from the loaded pipeline or, without
        loading, from the config.json of a bundled model or local folder ((None, 0) else)."""
        if spec in self._pipelines:
            pipe = self._pipelines[spec]
            return getattr(pipe.editor, "trained_on", None), pipe.resolution
        folder = WEIGHTS_DIR / spec.removeprefix(PREFIX) if spec.startswith(PREFIX) else Path(spec)
        try:
            config = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError):
            return None, 0
        training = config.get("training") or {}
        resolution = training.get("resolution") or config.get("image_size") or 0
        return training.get("dataset"), int(resolution)

    def recommended(self) -> str | None:
        """The editor recommended for photos of people: the first in `editor_order` when it
        was trained on real faces, else None."""
        if not self.editors:
            return None
        keyed = {spec: editor_order(*self.facts(spec), spec) for spec in self.editors}
        best = min(self.editors, key=keyed.__getitem__)
        return best if faces_of(self.facts(best)[0]) == "real" else None

    def default(self) -> str:
        """The editor the app opens with: the one the caller named, else the recommended one,
        else the first listed."""
        if not self.editors:
            raise ValueError("no editor to serve: install bundled weights or pass a model")
        if self._default is not None:
            return self._default
        return self.recommended() or self.editors[0]

    def choices(self) -> list[tuple[str, str]]:
        """The model list as (label, spec) pairs: each editor's faces, crop size, and which
        one is recommended."""
        best = self.recommended()
        return [
            (editor_label(spec.removeprefix(PREFIX), *self.facts(spec), spec == best), spec)
            for spec in self.editors
        ]

    def pipeline(self, spec: str) -> EditPipeline:
        self.load(spec)
        return self._pipelines[spec]

    def _measure(self, spec: str, pipeline: EditPipeline) -> ModelInfo:
        """Time one edit of a face crop after a warm-up (decides live updates)."""
        crop = self._probe_face(pipeline.resolution)
        expression = pipeline.labels[-1] if pipeline.kind == "label" else "happy"
        pipeline.edit(crop, expression, whole=True)  # warm-up: first calls allocate
        times = []
        for _ in range(3):
            t = time.perf_counter()
            pipeline.edit(crop, expression, whole=True)
            times.append(time.perf_counter() - t)
        seconds = float(np.median(times))
        trained_on = getattr(pipeline.editor, "trained_on", None)
        return ModelInfo(
            spec,
            spec.removeprefix(PREFIX),
            pipeline.kind,
            pipeline.labels,
            seconds,
            seconds < LIVE_SECONDS,
            pipeline.au_estimator is not None,
            trained_on,
            pipeline.resolution,
        )

    def _probe_face(self, resolution: int) -> np.ndarray:
        if self._probe is None:
            self._probe = to_uint8(SynthFaces("test", 1, 512).batch([0])["image"])[0]
        return self._probe

    # --- actions -----------------------------------------------------------------------
    def edit(
        self,
        spec: str,
        image,
        expression: str | None,
        intensity: float,
        aus: Sequence[float] | None = None,
        whole: bool = False,
        box: FaceBox | None = None,
    ) -> EditResult:
        """One edit with the model `spec`: AU models take `aus` (17 values, 0..5) when given;
        `box` is the face box given by hand (x, y, w, h)."""
        if image is None:
            raise ValueError("upload a photo (or pick an example) first")
        pipe = self.pipeline(spec)
        use_aus = np.asarray(aus, dtype=np.float64) if pipe.uses_aus and aus is not None else None
        return pipe.edit(image, expression, intensity, use_aus, box, whole=whole)

    def save(self, result: EditResult, stem: str = "segan-edit") -> Path:
        """The edited photo as a PNG for download (alpha and grayscale kept)."""
        folder = Path(tempfile.mkdtemp(dir=self.out_dir))
        return result.save(folder / f"{stem}.png")

    def pictures(self, pictures: dict[str, np.ndarray], kind: str = "png") -> dict[str, Path]:
        """Pictures written once each into a folder of their own (JPEG or PNG by `kind`), for
        the app to show: a served file is never rewritten while a browser reads it, which
        pictures handed over as arrays are when two sessions show identical ones."""
        folder = Path(tempfile.mkdtemp(dir=self.out_dir))
        paths = {}
        for i, (name, picture) in enumerate(pictures.items()):
            path = folder / f"{i:02d}.{kind}"
            image = Image.fromarray(np.asarray(picture, dtype=np.uint8))
            (image.convert("RGB") if kind == "jpeg" else image).save(path)
            paths[name] = path
        return paths

    def preset(self, expression: str, intensity: float, spec: str | None = None) -> list[float]:
        """The 17 AU slider values of an expression's preset: the AUs editor `spec` is asked
        for (its labels' form, see EditPipeline.target_aus) when it is an AU model."""
        pipe = None if spec is None else self.pipeline(spec)
        if pipe is not None and pipe.uses_aus:
            aus = pipe.target_aus(expression, intensity, None)
        else:
            aus = expression_preset(expression, intensity)
        return [round(float(v), 2) for v in aus]

    def transfer(self, spec: str, reference, whole: bool = False) -> list[float]:
        """The AUs of the face in `reference`: read from the Face Landmarker's blendshapes
        (segan.photos.aus, calibrated on real photos) when it is installed and finds a face,
        else by the model's AU estimator (trained on SynthFaces)."""
        if reference is None:
            raise ValueError("upload a reference face to read action units from")
        pipe = self.pipeline(spec)
        photo = pipe.read(reference)
        try:
            mesh = pipe.finder.largest(photo.rgb).mesh
        except (AssetUnavailableError, NoFaceError):
            mesh = None
        if mesh is not None:
            aus = aus_from_blendshapes(mesh.blendshapes)
        elif pipe.au_estimator is None:
            raise ValueError(
                "no face landmarker or AU estimator is installed, so AUs cannot be read from "
                "a face (`segan fetch face_landmarker` finds the landmarker)"
            )
        else:
            face = pipe.find(photo, whole=whole)
            _, crop = pipe.crop(photo, face, whole)
            aus = pipe.estimate_aus(crop)
        return [round(float(v), 2) for v in np.clip(aus, 0.0, 5.0)]

    def compare(
        self,
        image,
        expression: str,
        intensity: float,
        whole: bool = False,
        specs: Sequence[str] | None = None,
    ) -> list[tuple[str, EditResult]]:
        """The same face edited by every model in `specs` (default: the bundled editors)."""
        if image is None:
            raise ValueError("upload a photo (or pick an example) first")
        specs = list(specs if specs is not None else self.editors)
        pipelines = {spec: self.pipeline(spec) for spec in specs}
        _, _, results = compare(pipelines, image, expression, intensity, whole=whole)
        return list(results.items())

    def compare_faces(
        self,
        image,
        expression: str,
        intensity: float,
        whole: bool = False,
        specs: Sequence[str] | None = None,
        size: int = COMPARE_SIZE,
    ) -> dict[str, np.ndarray]:
        """The face of `image` and every model's edit of it, each cut as the same square of
        the photo (around the face found once) at `size` px and labelled with the model's
        list entry and its time: pictures that compare at one scale."""
        pairs = self.compare(image, expression, intensity, whole, specs)
        if not pairs:
            raise ValueError(f"no model here edits towards {expression!r}")
        first = pairs[0][1]
        region = square_box(first.face, COMPARE_SCALE) if not whole else first.box
        best = self.recommended()
        faces = {"input": crop_image(first.photo.rgb, region, size)}
        for spec, result in pairs:
            label = editor_label(spec.removeprefix(PREFIX), *self.facts(spec), spec == best)
            faces[f"{label}: {result.seconds['total'] * 1000:.0f} ms"] = crop_image(
                result.output, region, size
            )
        return faces
