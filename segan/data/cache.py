"""Prepared datasets: aligned, resized crops and their labels in memory-mapped arrays.

`prepare` decodes a loader's pictures once and writes one `.npy` per key (`image` uint8
(N, R, R, 3), `mask` uint8, `expression` int64, `aus` float32, `landmarks` float32, ...), the
source path of every item (`paths.txt`) and `meta.json` (dataset, split, resolution, what was
dropped and skipped and why). `PreparedFaces` opens them with `np.load(mmap_mode="r")`, so a
training epoch reads no JPEG and a batch is one slice of a file the OS keeps cached. The folder
is written under `OUT.partial` and renamed at the end: an interrupted run leaves no half cache.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from segan.data.records import DataError, FaceDataset, MaskError
from segan.labels import EXPRESSIONS
from segan.photos.faces import NoFaceError
from segan.photos.images import ImageReadError, SkipLog
from segan.visualize import to_uint8

__all__ = ["CACHE_FORMAT", "PreparedFaces", "is_prepared", "prepare"]

CACHE_FORMAT = "segan-prepared-faces/1"
# How each key is stored; images are kept as (H, W, 3) uint8 and turned into [-1, 1] on read.
_STORED = {"image": np.uint8, "mask": np.uint8, "expression": np.int64, "identity": np.int64}


def is_prepared(path: str | Path) -> bool:
    """Whether `path` is a folder written by `prepare`."""
    meta = Path(path) / "meta.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("format") == CACHE_FORMAT
    except (json.JSONDecodeError, OSError):
        return False


class _Attempt(Dataset):
    """Item k of a loader, or the reason it could not be read (never raises for bad files)."""

    def __init__(self, dataset: FaceDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, k: int) -> tuple[int, dict[str, torch.Tensor] | None, str]:
        try:
            return k, self.dataset.load(k), ""
        except ImageReadError as err:
            return k, None, err.reason
        except (MaskError, NoFaceError) as err:
            return k, None, str(err)


def _stored(key: str, value: torch.Tensor) -> np.ndarray:
    if key == "image":  # (3, R, R) in [-1, 1] -> (R, R, 3) uint8, exactly the decoded pixels
        return to_uint8(value)
    return value.numpy().astype(_STORED.get(key, np.float32))


def prepare(
    dataset: FaceDataset,
    out: str | Path,
    workers: int = 0,
    options: dict[str, Any] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Decode every item of `dataset` once and write the cache folder `out`; returns its meta.

    Unreadable pictures (corrupt, truncated, no face, mask mismatch) are skipped and listed in
    meta.json with the reason; nothing else is lost.
    """
    out = Path(out)
    if out.exists():
        raise DataError(f"{out} already exists; remove it or choose another output folder")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    n = len(dataset)
    skipped = SkipLog()
    arrays: dict[str, np.ndarray] = {}
    paths: list[str] = []
    loader = DataLoader(_Attempt(dataset), batch_size=None, num_workers=workers)
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=f"prepare {dataset.name}", unit="img")
    for k, item, reason in loader:
        if bar is not None:
            bar.update(1)
        if item is None:
            skipped.add(dataset.item_path(k), reason)
            continue
        row = len(paths)
        for key, value in item.items():
            value = _stored(key, value)
            if key not in arrays:
                arrays[key] = np.lib.format.open_memmap(
                    partial / f"{key}.npy.tmp", "w+", value.dtype, (n, *value.shape)
                )
            arrays[key][row] = value
        paths.append(str(dataset.item_path(k)))
    if bar is not None:
        bar.close()
    if not paths:
        shutil.rmtree(partial)
        raise DataError(f"{dataset.name}: no picture could be read ({skipped.summary()})")
    count, keys = len(paths), list(arrays)
    for key in list(arrays):
        array = arrays.pop(key)
        array.flush()
        if count == n:  # every picture was read: the file already has the right length
            del array
            (partial / f"{key}.npy.tmp").rename(partial / f"{key}.npy")
            continue
        final = np.lib.format.open_memmap(
            partial / f"{key}.npy", "w+", array.dtype, (count, *array.shape[1:])
        )
        for s in range(0, count, 1024):
            final[s : s + 1024] = array[s : min(s + 1024, count)]
        final.flush()
        del final, array
        (partial / f"{key}.npy.tmp").unlink()
    (partial / "paths.txt").write_text("\n".join(paths) + "\n")
    skipped.entries.extend(dataset.skipped.entries)  # files the loader itself passed over
    meta = {
        "format": CACHE_FORMAT,
        "dataset": dataset.name,
        "split": getattr(dataset, "split", None),
        "resolution": dataset.resolution,
        "count": count,
        "keys": keys,
        "expressions": list(EXPRESSIONS),
        "dropped": dict(dataset.dropped),
        "skipped": [list(e) for e in skipped],
        "skipped_summary": skipped.summary(),
        "options": options or {},
        "seconds": round(time.perf_counter() - start, 2),
    }
    (partial / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    partial.rename(out)
    return meta


class PreparedFaces(Dataset):
    """A prepared folder as a dataset with the same items as its loader gave."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not is_prepared(self.path):
            raise DataError(
                f"{self.path} is not a prepared dataset (no meta.json of format {CACHE_FORMAT}); "
                f"make one with: segan prepare DATASET ROOT {self.path}"
            )
        self.meta = json.loads((self.path / "meta.json").read_text())
        self.arrays = {}
        for key in self.meta["keys"]:
            file = self.path / f"{key}.npy"
            if not file.is_file():
                raise DataError(f"prepared dataset {self.path} lacks {file.name}")
            self.arrays[key] = np.load(file, mmap_mode="r")
            if len(self.arrays[key]) != self.meta["count"]:
                raise DataError(
                    f"{file} holds {len(self.arrays[key])} rows, meta.json says "
                    f"{self.meta['count']}: the folder is damaged; prepare it again"
                )
        self.keys = tuple(self.meta["keys"])
        self.resolution = int(self.meta["resolution"])
        self.name = self.meta["dataset"]

    def __len__(self) -> int:
        return int(self.meta["count"])

    def batch(self, indices: Sequence[int] | torch.Tensor) -> dict[str, torch.Tensor]:
        """Items as stacked tensors (images (N, 3, R, R) in [-1, 1])."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        order = np.argsort(idx, kind="stable")  # read the file forwards
        out = {}
        for key, array in self.arrays.items():
            rows = np.empty((len(idx), *array.shape[1:]), array.dtype)
            rows[order] = array[idx[order]]
            value = torch.from_numpy(rows)
            if key == "image":
                value = value.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
            elif key == "mask":
                value = value.long()
            out[key] = value
        return out

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a prepared set of size {n}")
        return {k: v[0] for k, v in self.batch([index % n]).items()}

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, torch.Tensor]]:
        b = self.batch(indices)
        return [{k: v[j] for k, v in b.items()} for j in range(len(indices))]
