"""Writes a dataset's test.csv as the firmware's test-input records: for each row, the class
as one byte, then every feature as a little-endian f32 (`[label u8][f32 LE x n]`).

    python3 datasets/features_bin.py datasets/wine models/wine-test-features.bin

Classes are numbered as the trainer numbers them, from the folder's train.csv: integer
labels are their own class; string labels are sorted (byte order) and numbered from 0.
Features are converted as the trainer reads them (text to f32, via Python's float). The
label column is `class`, the last. Standard library only.
"""

import csv
import struct
import sys

LABEL = "class"


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    label = rows[0].index(LABEL)
    return [([v for i, v in enumerate(r) if i != label], r[label]) for r in rows[1:]]


def class_numbers(labels):
    """Label text -> class number, as the trainer assigns them (trainer/src/data/table.rs)."""
    if all(label.strip().lstrip("-").isdigit() for label in labels):
        return {label: int(label) for label in labels}
    return {name: number for number, name in enumerate(sorted(set(labels)))}


def main():
    folder, out = sys.argv[1:3]
    classes = class_numbers([label for _, label in read(f"{folder}/train.csv")])
    records = bytearray()
    rows = read(f"{folder}/test.csv")
    for features, label in rows:
        records.append(classes[label])
        records += struct.pack(f"<{len(features)}f", *map(float, features))
    with open(out, "wb") as f:
        f.write(records)
    print(f"{out}: {len(rows)} records of 1 + 4 x {len(rows[0][0])} bytes")


if __name__ == "__main__":
    main()
