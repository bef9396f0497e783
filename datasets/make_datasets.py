"""Writes the example datasets in datasets/ from scikit-learn's bundled copies.

Each dataset becomes <name>/train.csv and <name>/test.csv: a header line, the feature
columns as scikit-learn names them, and a last column `class` holding the label. The split
is stratified (each class keeps its share in both files) with a fixed seed, so running this
again writes the same bytes (checked with scikit-learn 1.9.1; another version could split
differently).

    /path/to/python datasets/make_datasets.py        # from the repository root

Needs numpy and scikit-learn; nothing downloads (the data ships inside scikit-learn).
See datasets/README.md for the sources and licenses.
"""

import csv
import os

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
# Fraction of each class that goes to test.csv, and the seed of the split.
TEST_SIZE = 0.25
SEED = 0


def cell(value):
    """The shortest text that reads back as the same float64: 13.2, 1065, 0.0471."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def write(name, features, labels, columns):
    train_x, test_x, train_y, test_y = train_test_split(
        features, labels, test_size=TEST_SIZE, random_state=SEED, stratify=labels
    )
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    for part, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
        path = os.path.join(folder, part + ".csv")
        with open(path, "w", newline="") as f:
            out = csv.writer(f, lineterminator="\n")
            out.writerow(list(columns) + ["class"])
            for row, label in zip(x, y):
                out.writerow([cell(v) for v in row] + [label])
        print(f"{path}: {len(y)} rows, {x.shape[1]} features, {len(set(labels))} classes")


def main():
    wine = load_wine()
    # String labels (class_0, class_1, class_2, as scikit-learn names the three cultivars)
    # so the class names travel into the model.
    write("wine", wine.data, wine.target_names[wine.target], wine.feature_names)

    cancer = load_breast_cancer()
    write(
        "breast-cancer",
        cancer.data,
        cancer.target_names[cancer.target],
        cancer.feature_names,
    )

    digits = load_digits()
    # Integer labels: class k is the digit k. Pixels are counts 0..16.
    write("digits", digits.data, digits.target, digits.feature_names)


if __name__ == "__main__":
    main()
