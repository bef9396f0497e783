"""Writes MNIST as CSV files: a header `pixel_0,...,pixel_783,label`, then one row per
image, the 784 pixels (0..255, row by row) and the digit. Reads the IDX files the trainer
reads (data/mnist, raw or .gz; `trainer fetch` puts them there).

    python3 bench/mnist_csv.py [--data-dir data/mnist] [--out-dir data/mnist-csv]

writes <out-dir>/train.csv (60,000 rows, about 110 MB) and <out-dir>/test.csv (10,000).
Needs numpy. bench/mnist_csv.sh trains on these and on the IDX files and compares.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnist_idx  # noqa: E402


def write(path, images, labels):
    header = ",".join([f"pixel_{i}" for i in range(images.shape[1])] + ["label"])
    rows = np.concatenate([images, labels[:, None]], axis=1)
    np.savetxt(path, rows, fmt="%d", delimiter=",", header=header, comments="")
    print(f"{path}: {len(labels)} rows, {images.shape[1]} pixels")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default="data/mnist")
    p.add_argument("--out-dir", default="data/mnist-csv")
    args = p.parse_args()
    (train_x, train_y), (test_x, test_y) = mnist_idx.load(args.data_dir)
    os.makedirs(args.out_dir, exist_ok=True)
    write(os.path.join(args.out_dir, "train.csv"), train_x, train_y)
    write(os.path.join(args.out_dir, "test.csv"), test_x, test_y)


if __name__ == "__main__":
    main()
