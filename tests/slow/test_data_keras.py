"""The tutorial's own ``keras.datasets.fashion_mnist.load_data()`` offline, in a fresh process
(slow: it imports TensorFlow, about 13 s of CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from autograder import data


def test_keras_loads_offline_from_the_cache(tmp_path: Path):
    """Does the tutorial's own call load the real data from the cache, with no network?"""
    home = data.provide_keras_cache(tmp_path / "keras")
    code = (
        "import keras\n"
        "(x, y), (xt, yt) = keras.datasets.fashion_mnist.load_data()\n"
        "print(x.shape, xt.shape, int(y[:100].sum()))\n"
    )
    env = dict(os.environ, KERAS_HOME=str(home), TF_CPP_MIN_LOG_LEVEL="3",
               # a proxy that does not exist: any download attempt would fail, not hang
               HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120, check=True)
    ds = data.load()
    assert out.stdout.split("\n")[0] == f"(60000, 28, 28) (10000, 28, 28) {int(ds.train_labels[:100].sum())}"
