"""Writes the NumPy fixtures of trainer/tests/numpy_reader.rs (numpy_fixtures_*), so the reader
is held to files NumPy itself wrote. Run with NumPy installed:
    python3 trainer/tests/data/numpy/make.py
(these were written by NumPy 2.4.6)."""
import os

import numpy as np

os.chdir(os.path.dirname(os.path.abspath(__file__)))
X = np.array([[0.5, 1.0], [2.0, -3.0], [4.25, 5.0]], dtype=np.float32)
np.save("X-float32.npy", X)
np.save("X-float64-big-endian.npy", X.astype(">f8"))
np.save("y-int64.npy", np.array([2, 0, 1]))
np.save("y-str.npy", np.array(["walk", "run", "walk"]))
np.save("images-uint8-fortran.npy", np.asfortranarray(np.arange(24, dtype=np.uint8).reshape(2, 3, 4)))
np.save("y-uint8-2.npy", np.array([1, 0], dtype=np.uint8))
np.save("y-object.npy", np.array(["walk", None, "run"], dtype=object), allow_pickle=True)
np.savez_compressed("compressed.npz", X=X, y=np.array(["walk", "run", "walk"]))
np.savez("stored.npz", x=X.astype(np.int16), Y=np.array([2.0, 0.0, 1.0]))
