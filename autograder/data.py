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
    return home


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load(source: Path | None = None) -> Dataset:
    """Load the verified files exactly as Keras does (for the kit's own benchmarks and checks).

    Verified and decompressed once per process and version of the files (a clean check asks for
    the test set from several tests); the arrays are read-only, so no caller can change them
    for the next.
    """
    src = source_dir() if source is None else Path(source)
    try:
        key = tuple((name, (src / name).stat().st_size, (src / name).stat().st_mtime_ns) for name in FILES)
    except OSError:
        verify(src)  # raises the clear error (a file missing)
        raise
    return _load_verified(str(src), key)


@functools.lru_cache(maxsize=2)
def _load_verified(src_dir: str, key: tuple) -> Dataset:
    src = verify(Path(src_dir))
    y_train = _read_idx(src / "train-labels-idx1-ubyte.gz", 8)
    x_train = _read_idx(src / "train-images-idx3-ubyte.gz", 16).reshape(len(y_train), 28, 28)
    y_test = _read_idx(src / "t10k-labels-idx1-ubyte.gz", 8)
    x_test = _read_idx(src / "t10k-images-idx3-ubyte.gz", 16).reshape(len(y_test), 28, 28)
    return Dataset(x_train, y_train, x_test, y_test)
