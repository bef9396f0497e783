"""Reads the MNIST IDX files from data/mnist (the same files the Rust trainer reads)."""
import gzip
import os
import struct

import numpy as np


def _read(path):
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.read()


def load(data_dir="data/mnist"):
    def images(name):
        raw = _read(os.path.join(data_dir, name))
        magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
        assert magic == 0x803, name
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, rows * cols)

    def labels(name):
        raw = _read(os.path.join(data_dir, name))
        magic, n = struct.unpack(">II", raw[:8])
        assert magic == 0x801, name
        return np.frombuffer(raw, np.uint8, offset=8)

    return (
        (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte")),
        (images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte")),
    )


def peak_rss_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
