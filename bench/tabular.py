"""tinymlp against scikit-learn's MLPClassifier on the tabular datasets in datasets/.

For each dataset, trains both on the same train.csv and scores both on the same test.csv,
with the same model and settings as far as scikit-learn allows: one hidden ReLU layer of
--hidden units, softmax output, Adam (learning rate 1e-3, betas 0.9 / 0.999, epsilon
1e-7), --batch-size, --epochs passes with shuffling, Glorot-uniform weights, no weight
penalty and no early stopping. scikit-learn sees the features standardized by a
StandardScaler fitted on the training file; tinymlp standardizes them itself (the
training mean and standard deviation become part of the model).

Prints, per dataset, the median test accuracy over --seeds of: scikit-learn, the tinymlp
trainer's float model, its f32 blob and its int8 blob (as the trainer's report.json gives
them), then the two differences issue 12 asks about: float - scikit-learn (within 1
point) and int8 blob - float (within 1 point).

    /work/bench-venv/bin/python bench/tabular.py                    # all datasets, 5 seeds
    /work/bench-venv/bin/python bench/tabular.py --datasets wine --seeds 1 2
    /work/bench-venv/bin/python bench/tabular.py --skip-trainer     # scikit-learn only

Run from the repository root; builds the trainer with cargo first (unless --trainer names
a binary). Needs numpy and scikit-learn. Each run's trainer outputs stay in
--out-dir/<dataset>-<seed>/, and every figure in --out-dir/results.jsonl.
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import warnings

import numpy as np

DATASETS = ("wine", "breast-cancer", "digits")
LABEL = "class"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), metavar="NAME",
                   help="folders under datasets/ (default: %(default)s)")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    p.add_argument("--hidden", type=int, default=64, help="hidden ReLU units")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--trainer", help="a built trainer binary (default: cargo build it)")
    p.add_argument("--skip-trainer", action="store_true", help="scikit-learn only")
    p.add_argument("--out-dir", default="out/bench/tabular")
    return p.parse_args()


def read_csv(path):
    """Features (float64) and string labels of a datasets/ CSV file (label column LABEL)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    label = header.index(LABEL)
    features = np.array([[float(v) for i, v in enumerate(r) if i != label] for r in body])
    labels = np.array([r[label] for r in body])
    return features, labels


def sklearn_accuracy(train, test, args, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    (train_x, train_y), (test_x, test_y) = train, test
    scaler = StandardScaler().fit(train_x)
    model = MLPClassifier(
        hidden_layer_sizes=(args.hidden,),
        activation="relu",
        solver="adam",
        learning_rate_init=args.learning_rate,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,  # Keras's (scikit-learn's default is 1e-8)
        alpha=0.0,  # no L2 penalty, as the Keras model has none
        batch_size=args.batch_size,
        max_iter=args.epochs,
        shuffle=True,
        # Run every epoch: never stop because the loss stopped improving.
        tol=0.0,
        n_iter_no_change=args.epochs + 1,
        early_stopping=False,
        random_state=seed,
    )
    with warnings.catch_warnings():
        # "Maximum iterations reached": the point, as Keras runs a fixed number of epochs.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(scaler.transform(train_x), train_y)
    return float(model.score(scaler.transform(test_x), test_y))


def trainer_binary():
    """Builds the trainer (release) and returns the binary's path."""
    subprocess.run(["cargo", "build", "-p", "trainer", "--release", "--quiet"], check=True)
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        check=True, capture_output=True, text=True,
    )
    target = json.loads(metadata.stdout)["target_directory"]
    return os.path.join(target, "release", "trainer")


def trainer_accuracies(binary, folder, args, seed, out):
    """Trains with the tinymlp trainer; returns its report's (float, f32 blob, int8 blob)
    test accuracies."""
    command = [
        binary,
        "--train", os.path.join(folder, "train.csv"),
        "--test", os.path.join(folder, "test.csv"),
        "--label", LABEL,
        "--hidden", str(args.hidden),
        "--epochs", str(args.epochs),
        "--batch-size", str(args.batch_size),
        "--optimizer", "adam",
        "--learning-rate", str(args.learning_rate),
        "--seed", str(seed),
        "--device", "cpu",
        "--quiet",
        "--out-dir", out,
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"trainer failed ({run.returncode}): {' '.join(command)}\n{run.stderr}")
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    try:
        return (
            float(report["test"]["accuracy"]),
            float(report["f32_blob"]["score"]["accuracy"]),
            float(report["int8_blob"]["score"]["accuracy"]),
        )
    except (KeyError, TypeError) as e:
        sys.exit(f"{out}/report.json lacks test, f32_blob or int8_blob accuracy ({e!r})")


def main():
    args = parse_args()
    binary = None
    if not args.skip_trainer:
        binary = args.trainer or trainer_binary()
    os.makedirs(args.out_dir, exist_ok=True)
    results = []
    with open(os.path.join(args.out_dir, "results.jsonl"), "w") as log:
        for name in args.datasets:
            folder = os.path.join("datasets", name)
            train = read_csv(os.path.join(folder, "train.csv"))
            test = read_csv(os.path.join(folder, "test.csv"))
            runs = []
            for seed in args.seeds:
                run = {"dataset": name, "seed": seed,
                       "sklearn": sklearn_accuracy(train, test, args, seed)}
                if binary:
                    out = os.path.join(args.out_dir, f"{name}-{seed}")
                    run["float"], run["f32_blob"], run["int8_blob"] = trainer_accuracies(
                        binary, folder, args, seed, out)
                print(json.dumps(run), file=log, flush=True)
                runs.append(run)
            results.append((name, train, test, runs))
    print_table(results, args)


def print_table(results, args):
    print(f"hidden {args.hidden}, Adam lr {args.learning_rate}, batch {args.batch_size}, "
          f"{args.epochs} epochs; test accuracy in %, median over seeds "
          f"{' '.join(map(str, args.seeds))}")
    columns = ["sklearn", "float", "f32_blob", "int8_blob"]
    print(f"{'dataset':<14} {'train/test':>10} {'feat':>4} {'cls':>3}  "
          f"{'sklearn':>7} {'float':>7} {'f32blob':>7} {'int8blob':>8}  "
          f"{'float-sk':>8} {'int8-float':>10}")
    for name, (train_x, train_y), (_, test_y), runs in results:
        median = {c: 100 * statistics.median(r[c] for r in runs) if c in runs[0] else None
                  for c in columns}
        cells = [f"{median[c]:7.2f}" if median[c] is not None else f"{'-':>7}"
                 for c in columns]
        diffs = ""
        if median["float"] is not None:
            # Rounded so that f32 (the trainer's report) against f64 does not print -0.00;
            # + 0.0 turns -0.0 into 0.0.
            float_vs_sklearn = round(median["float"] - median["sklearn"], 4) + 0.0
            int8_vs_float = round(median["int8_blob"] - median["float"], 4) + 0.0
            diffs = (f"{float_vs_sklearn:+8.2f}{' ' if abs(float_vs_sklearn) <= 1 else '!'}"
                     f"{int8_vs_float:+10.2f}{' ' if abs(int8_vs_float) <= 1 else '!'}")
        print(f"{name:<14} {f'{len(train_y)}/{len(test_y)}':>10} {train_x.shape[1]:>4} "
              f"{len(set(train_y)):>3}  {cells[0]} {cells[1]} {cells[2]} {cells[3]:>8}  {diffs}")
    print("(! marks a difference of more than 1 point; float-sk below 0 means tinymlp "
          "is behind scikit-learn)")


if __name__ == "__main__":
    main()
