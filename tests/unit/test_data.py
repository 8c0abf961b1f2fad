"""Offline Fashion-MNIST: verification, the Keras cache, and the errors a user sees."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from autograder import data
from autograder.errors import DataError


@pytest.fixture
def copy_of_data(tmp_path: Path) -> Path:
    src = data.verify()
    dest = tmp_path / "fm"
    dest.mkdir()
    for name in data.FILES:
        shutil.copy(src / name, dest / name)
    return dest


def flip_last_byte(path: Path) -> None:
    """Corrupt ``path``: its last byte inverted (the size unchanged, the mtime new)."""
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))


def test_debian_package_files_verify():
    """Do the four files of the Debian package have the published SHA-256?"""
    assert data.verify() == data.DEBIAN_DIR
    assert len(data.FILES) == 4


def test_missing_folder_names_package_and_variable(tmp_path: Path):
    """Does missing data give one message naming the apt package and the variable?"""
    with pytest.raises(DataError) as info:
        data.verify(tmp_path / "nowhere")
    text = str(info.value)
    assert data.APT_PACKAGE in text and data.ENV_DIR in text
    assert "train-images-idx3-ubyte.gz" in text


def test_corrupt_file_is_named(copy_of_data: Path):
    """Is a file with a wrong hash reported by its name?"""
    victim = copy_of_data / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(victim.read_bytes())
    raw[100] ^= 0xFF
    victim.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz is corrupt"):
        data.verify(copy_of_data)


def test_environment_variable_is_honoured(copy_of_data: Path, monkeypatch: pytest.MonkeyPatch):
    """Is FASHION_MNIST_DIR used instead of the Debian folder?"""
    monkeypatch.setenv(data.ENV_DIR, str(copy_of_data))
    assert data.source_dir() == copy_of_data
    assert data.verify() == copy_of_data


def test_cache_is_idempotent_and_replaces_bad_entries(tmp_path: Path):
    """Does providing the cache twice give the same links, and replace a stale file?"""
    home = data.provide_keras_cache(tmp_path / "keras")
    target = home / "datasets" / "fashion-mnist"
    stale = target / "train-labels-idx1-ubyte.gz"
    stale.unlink()
    stale.write_bytes(b"partial download")
    data.provide_keras_cache(tmp_path / "keras")
    for name in data.FILES:
        assert (target / name).is_symlink()
        assert data.sha256_of(target / name) == data.FILES[name]


def test_load_matches_shapes_and_labels():
    """Are the arrays the kit loads the real Fashion-MNIST (shapes, label range, class balance)?"""
    ds = data.load()
    assert ds.train_images.shape == (60000, 28, 28) and ds.test_images.shape == (10000, 28, 28)
    assert set(ds.train_labels.tolist()) == set(range(10))
    assert all((ds.test_labels == k).sum() == 1000 for k in range(10))


def test_load_once_per_process_but_a_changed_file_is_checked_again(copy_of_data: Path):
    """Is the data set decompressed once per process (read-only arrays, so no caller changes it
    for the next), while a file changed since is verified again and refused?"""
    first = data.load(copy_of_data)
    assert data.load(copy_of_data) is first
    with pytest.raises(ValueError):
        first.test_images[0, 0, 0] = 1
    flip_last_byte(copy_of_data / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="corrupt"):
        data.load(copy_of_data)


@pytest.fixture
def fresh_load_caches():
    data._load_raw.cache_clear()
    data._load_verified.cache_clear()
    yield
    data._load_raw.cache_clear()
    data._load_verified.cache_clear()


def test_the_uncompressed_copy_is_read_and_checked(tmp_path: Path, copy_of_data: Path,
                                                   monkeypatch: pytest.MonkeyPatch, fresh_load_caches):
    """Does ``load`` read the kit's uncompressed copy (no .gz decompressed) while it is the
    copy of these very files, and go back to the .gz files when a byte of it changed?"""
    home = tmp_path / "keras"
    monkeypatch.setenv("KERAS_HOME", str(home))
    data.provide_keras_cache(home, copy_of_data)
    raw = data.raw_copy_dir(home)
    assert sorted(p.name for p in raw.iterdir()) == sorted([*data.RAW_FILES, data.RAW_STAMP])
    reference = data.load(copy_of_data)
    data._load_verified.cache_clear()

    decompressed = []
    real_read = data._read_idx
    monkeypatch.setattr(data, "_read_idx", lambda p, o: decompressed.append(p.name) or real_read(p, o))
    from_copy = data.load(copy_of_data)
    assert decompressed == []
    assert np.array_equal(from_copy.train_images, reference.train_images)
    assert np.array_equal(from_copy.test_labels, reference.test_labels)
    with pytest.raises(ValueError):
        from_copy.train_images[0, 0, 0] = 1

    flip_last_byte(raw / "t10k-images-idx3-ubyte")
    again = data.load(copy_of_data)
    assert "t10k-images-idx3-ubyte.gz" in decompressed  # the copy did not check: the .gz files
    assert np.array_equal(again.test_images, reference.test_images)


def test_the_copy_is_not_used_for_other_source_files(tmp_path: Path, copy_of_data: Path,
                                                     monkeypatch: pytest.MonkeyPatch, fresh_load_caches):
    """A copy made from other files (or from these before they changed) is not read: a corrupt
    source is still refused by name, and providing the cache again rebuilds the copy."""
    home = tmp_path / "keras"
    monkeypatch.setenv("KERAS_HOME", str(home))
    data.provide_keras_cache(home, copy_of_data)
    flip_last_byte(copy_of_data / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError, match="corrupt"):
        data.load(copy_of_data)
    with pytest.raises(DataError, match="corrupt"):
        data.provide_keras_cache(home, copy_of_data)


def test_an_unwritable_cache_leaves_load_on_the_gz_files(tmp_path: Path, copy_of_data: Path):
    """Is a Keras cache the kit cannot write to no error (a read-only image): no copy, None?"""
    home = tmp_path / "keras"
    (home / "datasets").mkdir(parents=True)
    (home / "datasets" / data.RAW_DIR).write_text("a file where the folder would be")
    assert data.provide_raw_copy(home, copy_of_data) is None
