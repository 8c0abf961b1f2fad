"""Real Fashion-MNIST, offline.

Student code keeps the tutorial's own call, ``keras.datasets.fashion_mnist.load_data()``. Keras
looks for the four original files in ``$KERAS_HOME/datasets/fashion-mnist/`` before it tries to
download them, so the kit fills that cache from the Debian package ``dataset-fashion-mnist``
(or from a folder named by ``FASHION_MNIST_DIR``) after checking each file's SHA-256. A grading
machine therefore never attempts a download, and a missing or corrupt file is reported by name.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder.errors import DataError

ENV_DIR = "FASHION_MNIST_DIR"
ENV_KIT_HOME = "FMNIST_KIT_HOME"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
APT_PACKAGE = "dataset-fashion-mnist"

#: SHA-256 of the four original files (Zalando's release, as Keras and Debian ship them).
FILES: dict[str, str] = {
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
}

#: SHA-256 of the same four files decompressed (the kit's uncompressed copy, ``provide_raw_copy``).
RAW_FILES: dict[str, str] = {
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
}
#: The uncompressed copy's folder, beside Keras's ``fashion-mnist/`` in ``KERAS_HOME/datasets``
#: (so a sandbox that shows the Keras cache read-only shows it too), and its record of the source.
RAW_DIR, RAW_STAMP = "fashion-mnist-raw", "source.json"

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


@dataclass(frozen=True)
class Dataset:
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def source_dir() -> Path:
    """The folder the real files come from: ``$FASHION_MNIST_DIR``, the Debian package's, or,
    where that is not installed (a Gradescope image), the Keras cache that
    ``keras.datasets.fashion_mnist.load_data()`` filled (``$KERAS_HOME`` or ``~/.keras``).
    Whichever it is, ``verify`` checks the four files' SHA-256."""
    explicit = os.environ.get(ENV_DIR)
    if explicit:
        return Path(explicit).expanduser()
    if DEBIAN_DIR.is_dir():
        return DEBIAN_DIR
    keras_dir = Path(os.environ.get("KERAS_HOME") or "~/.keras").expanduser() / "datasets" / "fashion-mnist"
    return keras_dir if keras_dir.is_dir() else DEBIAN_DIR


def kit_home() -> Path:
    """Where the kit keeps state shared by all its runs (the Keras cache lives below it)."""
    explicit = os.environ.get(ENV_KIT_HOME)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fmnist-kit"


def default_keras_home() -> Path:
    return kit_home() / "keras"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(directory: Path | None = None) -> Path:
    """Check that ``directory`` holds the four files with the right hashes; return it."""
    directory = source_dir() if directory is None else Path(directory)
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise DataError(
            f"Fashion-MNIST not found: {directory} lacks {', '.join(missing)}",
            hint=f"install the Debian package (apt-get update && apt-get install {APT_PACKAGE}) "
            f"or set {ENV_DIR} to a folder holding the four original .gz files",
        )
    for name, expected in FILES.items():
        actual = sha256_of(directory / name)
        if actual != expected:
            raise DataError(
                f"Fashion-MNIST file {directory / name} is corrupt: SHA-256 {actual[:16]}..., "
                f"expected {expected[:16]}...",
                hint=f"reinstall it (apt-get install --reinstall {APT_PACKAGE}) or point "
                f"{ENV_DIR} at a good copy",
            )
    return directory


def provide_keras_cache(keras_home: Path | None = None, source: Path | None = None) -> Path:
    """Make ``keras.datasets.fashion_mnist.load_data()`` work offline; return the KERAS_HOME.

    The cache holds symbolic links to the verified files, so nothing is copied and a sandbox
    that shows the source folder read-only also shows the cache. Idempotent.
    """
    src = verify(source)
    home = Path(keras_home) if keras_home is not None else default_keras_home()
    target = home / "datasets" / "fashion-mnist"
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        link = target / name
        wanted = (src / name).resolve()
        if link.is_symlink() and Path(os.readlink(link)) == wanted:
            continue
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(wanted)
    provide_raw_copy(home, src)
    return home


def raw_copy_dir(keras_home: Path | None = None) -> Path:
    """Where the uncompressed copy is: ``KERAS_HOME/datasets/fashion-mnist-raw``."""
    home = keras_home or os.environ.get("KERAS_HOME") or default_keras_home()
    return Path(home) / "datasets" / RAW_DIR


def _source_stamp(src: Path) -> dict:
    """What the uncompressed copy was made from: the folder and each file's size and mtime."""
    return {"source": str(src.resolve()),
            "files": [[name, (src / name).stat().st_size, (src / name).stat().st_mtime_ns] for name in FILES]}


def provide_raw_copy(keras_home: Path, source: Path) -> Path | None:
    """Keep an uncompressed copy of the verified files beside the Keras cache; return its folder.

    ``load`` reads it instead of decompressing the .gz files (0.4 s of CPU a process, measured;
    each grading's clean check loads the data set) while the source files are unchanged since
    the copy was made (``RAW_STAMP``: their size and mtime), and checks its SHA-256 (``RAW_FILES``)
    as it reads it. Written only here (a kit command on the host, never a sandbox), atomically;
    a folder that cannot be written leaves ``load`` on the .gz files. Idempotent.
    """
    target = raw_copy_dir(keras_home)
    stamp = _source_stamp(source)
    try:
        if json.loads((target / RAW_STAMP).read_text(encoding="utf-8")) == stamp and all(
                (target / name).is_file() for name in RAW_FILES):
            return target
    except (OSError, ValueError):
        pass
    try:
        target.mkdir(parents=True, exist_ok=True)
        (target / RAW_STAMP).unlink(missing_ok=True)
        for name, expected in RAW_FILES.items():
            with gzip.open(source / f"{name}.gz", "rb") as f:
                raw = f.read()
            if hashlib.sha256(raw).hexdigest() != expected:
                raise DataError(f"decompressing {source / name}.gz gave other bytes than Fashion-MNIST's",
                                hint=f"reinstall it (apt-get install --reinstall {APT_PACKAGE})")
            tmp = target / f".{name}.{os.getpid()}.tmp"
            tmp.write_bytes(raw)
            os.replace(tmp, target / name)
        tmp = target / f".{RAW_STAMP}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(stamp), encoding="utf-8")
        os.replace(tmp, target / RAW_STAMP)
    except OSError:
        return None
    return target


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load(source: Path | None = None) -> Dataset:
    """Load the verified files exactly as Keras does (for the kit's own benchmarks and checks).

    Verified and decompressed once per process and version of the files (a clean check asks for
    the test set from several tests); the arrays are read-only, so no caller can change them
    for the next. Where the kit keeps an uncompressed copy made from these very files
    (``provide_raw_copy``), that is read and its SHA-256 checked instead; if it does not check,
    the .gz files are.
    """
    src = source_dir() if source is None else Path(source)
    try:
        stamp = _source_stamp(src)
    except OSError:
        verify(src)  # raises the clear error (a file missing)
        raise
    key = tuple(tuple(f) for f in stamp["files"])
    raw = raw_copy_dir()
    try:
        if json.loads((raw / RAW_STAMP).read_text(encoding="utf-8")) == stamp:
            ds = _load_raw(str(raw), tuple((n, (raw / n).stat().st_mtime_ns) for n in RAW_FILES))
            if ds is not None:
                return ds
    except (OSError, ValueError):
        pass
    return _load_verified(str(src), key)


def _dataset(read) -> Dataset:
    y_train = read("train-labels-idx1-ubyte", 8)
    x_train = read("train-images-idx3-ubyte", 16).reshape(len(y_train), 28, 28)
    y_test = read("t10k-labels-idx1-ubyte", 8)
    x_test = read("t10k-images-idx3-ubyte", 16).reshape(len(y_test), 28, 28)
    return Dataset(x_train, y_train, x_test, y_test)


@functools.lru_cache(maxsize=2)
def _load_verified(src_dir: str, key: tuple) -> Dataset:
    src = verify(Path(src_dir))
    return _dataset(lambda name, offset: _read_idx(src / f"{name}.gz", offset))


@functools.lru_cache(maxsize=2)
def _load_raw(raw_dir: str, key: tuple) -> Dataset | None:
    """The uncompressed copy, or None if any file's SHA-256 is not Fashion-MNIST's."""
    blobs = {}
    for name, expected in RAW_FILES.items():
        blob = (Path(raw_dir) / name).read_bytes()
        if hashlib.sha256(blob).hexdigest() != expected:
            return None
        blobs[name] = blob
    return _dataset(lambda name, offset: np.frombuffer(blobs[name], np.uint8, offset=offset))
