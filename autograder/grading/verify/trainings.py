"""Verified trainings on disk: one training's result, and the cache of them a class folder keeps.

A ``Trained`` is what the grader's own training of one network gives (``replay.train``): its
history, its final weights and, so that a grading kernel can be given it instead of training
(``served``), the optimizer's final state and the digests of what the training started from (the
initial weights, the data, the compile arguments).

``write_trained`` and ``read_trained`` keep one as ``stem.json`` (the record) beside ``stem.npz``
(the arrays, no pickles), believed only whole: the record names the SHA-256 of its arrays.
``TrainingCache`` keys them by the fingerprint of their ``FitSpec`` in a folder only the grader's
replay writes, and signs each record with a key kept in that folder (``KEY_FILE``, readable by its
owner only): an entry planted by anyone without the key, however well formed, is discarded.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autograder.data import sha256_of

#: The on-disk format of a record (part of every fingerprint: a new format is a new cache).
FORMAT = 2
#: The cache's signing key, in the cache folder, mode 0600.
KEY_FILE = ".key"
MAX_RECORD_BYTES = 5_000_000


def array_digest(a: Any) -> str:
    """SHA-256 of an array's type, shape and bytes (the same on the kernel's side and the grader's)."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(memoryview(a).cast("B") if a.size else b"")
    return h.hexdigest()


def start_of(seed: Any, weights: list[Any], compile_config: Any, data: dict[str, Any], epochs: int,
             batch_size: int, validation_batch_size: int | None) -> dict[str, Any]:
    """What a training starts from, as plain data: the seed it was set to, the initial weights, the
    compile arguments, the arrays (by digest) and the fit arguments. Two trainings of the same
    architecture from the same start are the same training (float64: bit for bit)."""
    initial = hashlib.sha256("".join(array_digest(w) for w in weights).encode()).hexdigest()
    return {"seed": seed, "initial": initial,
            "compile": json.loads(json.dumps(compile_config, default=str)),
            "data": {k: array_digest(v) for k, v in sorted(data.items())},
            "epochs": int(epochs), "batch_size": int(batch_size),
            "validation_batch_size": None if validation_batch_size is None else int(validation_batch_size)}


def serve_key(config: dict[str, Any], start: dict[str, Any]) -> str:
    """The name a verified training is served under: its canonical architecture and its start.

    The optimizer's name (``adam_6``: Keras counts the optimizers a process made) changes nothing
    in a training, so it is left out, as layer names are left out of the architecture."""
    start = json.loads(json.dumps(start))
    optimizer = (start.get("compile") or {}).get("optimizer")
    if isinstance(optimizer, dict) and isinstance(optimizer.get("config"), dict):
        optimizer["config"].pop("name", None)
    blob = json.dumps({"config": config, "start": start, "format": FORMAT}, sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class Trained:
    """One training by the grader: its history (one list per metric) and final weights."""

    history: dict[str, list[float]]
    weights: list[np.ndarray]
    seconds: float = 0.0
    cached: bool = False
    config: dict | None = None  # the architecture trained (the spec's), when read back
    #: The optimizer's variables after the training (to hand a kernel the model as fit leaves it).
    optimizer: list[np.ndarray] = field(default_factory=list)
    #: What the training started from, as a kernel can check it: ``served.start_of``'s fields.
    start: dict[str, Any] | None = None


def write_trained(folder: Path, stem: str, trained: Trained, meta: dict[str, Any],
                  key: bytes | None = None) -> None:
    """``stem.json`` (history, meta, the arrays' hash) and ``stem.npz``, each written atomically;
    the record signed with ``key`` when given."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as f:  # a file object: savez would add ".npz" to a name
        np.savez(f, *trained.weights, *trained.optimizer)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from the clean check's sandbox user
    digest = sha256_of(Path(tmp))
    os.replace(tmp, folder / f"{stem}.npz")
    record = {"format": FORMAT, "history": trained.history, "weights_sha256": digest,
              "n_weights": len(trained.weights), "n_optimizer": len(trained.optimizer),
              "start": trained.start, "seconds": round(trained.seconds, 2), **meta}
    if key is not None:
        record["mac"] = _mac(key, record)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".json.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record, f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, folder / f"{stem}.json")


def _mac(key: bytes, record: dict[str, Any]) -> str:
    body = json.dumps({k: v for k, v in record.items() if k != "mac"}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def read_record(path: Path) -> dict[str, Any] | None:
    """A record as plain JSON (no symlink, bounded size), or None."""
    try:
        if path.is_symlink() or path.stat().st_size > MAX_RECORD_BYTES:
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) and record.get("format") == FORMAT else None


def read_trained(folder: Path, stem: str, fingerprint: str | None = None,
                 key: bytes | None = None) -> Trained | None:
    """A result written by ``write_trained``, or None when it is missing, corrupt, not for
    ``fingerprint`` or (with ``key``) not signed by it: never believed half-way."""
    meta_path, npz_path = folder / f"{stem}.json", folder / f"{stem}.npz"
    record = read_record(meta_path)
    if record is None:
        return None
    if fingerprint is not None and record.get("fingerprint") != fingerprint:
        return None
    if key is not None and not hmac.compare_digest(str(record.get("mac", "")), _mac(key, record)):
        return None
    try:
        if npz_path.is_symlink() or sha256_of(npz_path) != record.get("weights_sha256"):
            return None
        n_w, n_o = int(record["n_weights"]), int(record.get("n_optimizer", 0))
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = [z[f"arr_{i}"] for i in range(n_w + n_o)]
        history = {str(k): [float(x) for x in v] for k, v in dict(record["history"]).items()}
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return None
    spec = record.get("spec")
    config = spec.get("config") if isinstance(spec, dict) else None
    start = record.get("start")
    return Trained(history, arrays[:n_w], float(record.get("seconds", 0.0)), cached=True,
                   config=config if isinstance(config, dict) else None, optimizer=arrays[n_w:],
                   start=start if isinstance(start, dict) else None)


class TrainingCache:
    """Verified trainings by fingerprint, in a folder only the grader's replay writes.

    An entry is believed only whole and signed: its record names its fingerprint and the hash of
    its arrays, and carries the HMAC of the folder's key; anything else (a corrupt, foreign or
    planted entry) is discarded and trained again.
    """

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._key: bytes | None = None

    def key(self) -> bytes | None:
        """The folder's signing key, made on first use (None when the folder cannot hold one)."""
        if self._key is None and self.folder is not None:
            path = self.folder / KEY_FILE
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    pass
                else:
                    with os.fdopen(fd, "w") as f:
                        f.write(secrets.token_hex(32))
                text = path.read_text(encoding="ascii").strip() if not path.is_symlink() else ""
                self._key = bytes.fromhex(text) if len(text) == 64 else None
            except (OSError, ValueError):
                self._key = None
        return self._key

    def get(self, fingerprint: str) -> Trained | None:
        key = self.key()
        if self.folder is None or key is None:
            return None
        found = read_trained(self.folder, fingerprint, fingerprint, key)
        if found is None:
            self.discard(fingerprint)
        return found

    def discard(self, fingerprint: str) -> None:
        for suffix in (".json", ".npz"):
            try:
                (self.folder / f"{fingerprint}{suffix}").unlink(missing_ok=True)  # type: ignore[operator]
            except OSError:
                pass

    def records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(fingerprint, record) of every signed record in the folder (the arrays unchecked: a
        reader that uses them goes through ``get``)."""
        key = self.key()
        if self.folder is None or key is None or not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.json")):
            record = read_record(path)
            if record is not None and hmac.compare_digest(str(record.get("mac", "")), _mac(key, record)):
                yield path.stem, record

    @contextlib.contextmanager
    def lock(self, fingerprint: str) -> Iterator[None]:
        """Hold ``fingerprint``'s entry while it is looked up and, if missing, trained: a second
        grading that needs the same training waits for it instead of training it again."""
        if self.folder is None:
            yield
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / f"{fingerprint}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:  # an unwritable cache: train without it
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if this process dies
            yield
        finally:
            os.close(fd)

    def put(self, fingerprint: str, trained: Trained, meta: dict[str, Any] | None = None) -> None:
        key = self.key()
        if self.folder is not None and key is not None:
            try:
                write_trained(self.folder, fingerprint, trained, {**(meta or {}), "fingerprint": fingerprint},
                              key)
            except OSError:
                pass  # a full or read-only cache slows the next grading, it never fails this one
