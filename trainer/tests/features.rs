//! Classifiers of any feature data: datasets from CSV and NumPy files, standardization
//! owned by the model, the CPU backend's f32 path, errors that name the file, line and
//! column, and models built from given parameters.

mod common;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trainer::backend::cpu::CpuBackend;
use trainer::backend::{Backend, EpochPlan};
use trainer::data::{
    train_test, CsvOptions, Dataset, InputTransform, Inputs, Source, TestData, PIXEL_SCALE,
};
use trainer::rng::Rng;
use trainer::{Dense, Device, Model, Optimizer, Parameters};

/// `count` samples of three features in four classes, the quadrant of (`tiny`, `huge`):
/// `tiny` in thousandths, `huge` in thousands, and `noise` (in millions) that says nothing.
/// Samples near a boundary are left out, so a small model can be nearly always right.
fn quadrants(count: usize, seed: u64) -> Vec<([f32; 3], u8)> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let tiny = rng.uniform(-1e-3, 1e-3);
        let huge = rng.uniform(0.0, 1e4);
        let noise = rng.uniform(-3e6, 3e6);
        if tiny.abs() < 1e-4 || (huge - 5e3).abs() < 500.0 {
            continue;
        }
        let class = u8::from(tiny > 0.0) * 2 + u8::from(huge > 5e3);
        out.push(([tiny, huge, noise], class));
    }
    out
}

/// Writes `rows` as a CSV file with a string `kind` column (class `k` is `names[k]`).
fn write_csv(path: &Path, rows: &[([f32; 3], u8)], names: &[&str]) {
    let mut text = String::from("tiny,huge,noise,kind\n");
    for (features, class) in rows {
        text.push_str(&format!(
            "{:e},{},{},{}\n",
            features[0],
            features[1],
            features[2],
            names[usize::from(*class)]
        ));
    }
    std::fs::write(path, text).unwrap();
}

const NAMES: [&str; 4] = ["south-west", "north-west", "south-east", "north-east"];

fn quadrant_files(name: &str) -> (PathBuf, PathBuf) {
    let dir = common::temp_dir(name);
    let (train, test) = (dir.join("quadrants.csv"), dir.join("quadrants-test.csv"));
    write_csv(&train, &quadrants(800, 1), &NAMES);
    write_csv(&test, &quadrants(400, 2), &NAMES);
    (train, test)
}

fn csv(path: &Path) -> Source {
    Source::new(path, None, None).unwrap()
}

fn train_quadrants(train: &Arc<Dataset>) -> Model {
    let layers = [Dense::relu(32), Dense::softmax(4)];
    let mut model = common::compile_cpu(3, &layers, 5);
    model.fit(train, &common::quiet_fit(12, 32)).unwrap();
    model
}

#[test]
fn features_in_thousandths_beside_thousands_train_to_high_accuracy() {
    let (train_path, test_path) = quadrant_files("features-quadrants");
    let (train, test) = train_test(&csv(&train_path), &TestData::File(csv(&test_path))).unwrap();
    // String labels become classes in sorted order, with their names.
    let mut sorted = NAMES.to_vec();
    sorted.sort_unstable();
    assert_eq!(train.class_names, sorted);
    assert_eq!(test.class_names, sorted);
    let (train, test) = (Arc::new(train), Arc::new(test));
    let mut model = train_quadrants(&train);
    let accuracy = model.evaluate(&test).unwrap().accuracy;
    assert!(accuracy >= 0.97, "test accuracy {accuracy}");
    // The standardization is the training set's, kept by the model.
    let Some(InputTransform::Features { offsets, scales }) = model.input() else {
        panic!(
            "a feature model standardizes its inputs: {:?}",
            model.input()
        );
    };
    assert_eq!(*offsets, standardization(&train).0);
    assert_eq!(*scales, standardization(&train).1);
}

/// Per feature, the mean and one over the (population) deviation, in f64, as f32 (these
/// uniform features are far from the deviation floor).
fn standardization(data: &Dataset) -> (Vec<f32>, Vec<f32>) {
    let width = data.width();
    let n = data.len() as f64;
    let column = |j: usize| (0..data.len()).map(move |i| f64::from(data.features(i).unwrap()[j]));
    let means: Vec<f64> = (0..width).map(|j| column(j).sum::<f64>() / n).collect();
    let scales = (0..width)
        .map(|j| {
            let variance = column(j).map(|v| (v - means[j]).powi(2)).sum::<f64>() / n;
            (1.0 / variance.sqrt()) as f32
        })
        .collect();
    (means.iter().map(|&m| m as f32).collect(), scales)
}

#[test]
fn standardization_uses_the_training_mean_and_deviation_and_leaves_constants_alone() {
    let columns = vec!["a".to_owned(), "constant".to_owned()];
    let data = Dataset::from_features(vec![1.0, 7.0, 3.0, 7.0], columns, vec![0, 1], 2).unwrap();
    let transform = InputTransform::adapt(&data).unwrap();
    assert_eq!(
        transform,
        InputTransform::Features {
            offsets: vec![2.0, 7.0],
            scales: vec![1.0, 1.0],
        }
    );
    assert_eq!(transform.sample(&data, 0), vec![-1.0, 0.0]);
    assert_eq!(transform.sample(&data, 1), vec![1.0, 0.0]);
    // A feature that is almost always 0: its deviation (about 10) is floored at a tenth
    // of its range (100), so its one other value standardizes to 9.99, not to 999.
    let mut rare = vec![0.0; 10_000];
    rare[0] = 1000.0;
    let labels = (0..10_000).map(|i| (i % 2) as u8).collect();
    let data = Dataset::from_features(rare, vec!["rare".into()], labels, 2).unwrap();
    let transform = InputTransform::adapt(&data).unwrap();
    assert_eq!(
        transform,
        InputTransform::Features {
            offsets: vec![0.1],
            scales: vec![0.01],
        }
    );
    assert_eq!(transform.sample(&data, 0), vec![(1000.0f32 - 0.1) * 0.01]);
    // Images keep Keras's p / 255.
    let images = Dataset::new(vec![0, 255, 51, 0], vec![0, 1], (1, 2), 2).unwrap();
    let transform = InputTransform::adapt(&images).unwrap();
    assert_eq!(transform, InputTransform::pixels(1, 2));
    assert_eq!(transform.sample(&images, 1), vec![51.0 * PIXEL_SCALE, 0.0]);
}

#[test]
fn f32_features_train_bit_for_bit_like_the_same_values_as_pixels() {
    // The CPU backend's f32 path is the u8 path with the scaling done beforehand: the same
    // values give the same bits, through a hidden layer and every optimizer step.
    let pixels = Arc::new(common::synthetic(96, 5, 4));
    let values: Vec<f32> = (0..pixels.len())
        .flat_map(|i| common::scaled(&pixels, i))
        .collect();
    let columns = (0..pixels.width()).map(|j| j.to_string()).collect();
    let features = Arc::new(
        Dataset::from_features(values, columns, pixels.labels.clone(), pixels.classes).unwrap(),
    );
    let start = Parameters::glorot_uniform(&[64, 150, 5], &mut Rng::new(3));
    let trained = |data: &Arc<Dataset>| {
        let mut backend = CpuBackend::with_threads(2).unwrap();
        let id = backend.load_dataset(data).unwrap();
        backend
            .set_parameters(&start, &Optimizer::default())
            .unwrap();
        let mut order: Vec<u32> = (0..data.len() as u32).collect();
        let mut rng = Rng::new(9);
        for epoch in 1..=3 {
            rng.shuffle(&mut order);
            let plan = EpochPlan {
                epoch,
                dataset: id,
                order: &order,
                batch_size: 16,
            };
            backend
                .train_epoch(plan, &mut |_| ControlFlow::Continue(()))
                .unwrap();
        }
        (backend.parameters().unwrap(), backend.evaluate(id).unwrap())
    };
    let (from_pixels, pixel_figures) = trained(&pixels);
    let (from_features, feature_figures) = trained(&features);
    assert_eq!(from_pixels, from_features);
    assert_eq!(pixel_figures, feature_figures);
}

#[test]
fn pixels_through_csv_train_as_through_idx() {
    // The same images as IDX files and as a CSV file of one column per pixel (the Kaggle
    // layout, label first): the CSV's columns look like pixels (whole numbers 0-255, some
    // above 127, at least 64 of them), so they are read as the IDX images are, and the
    // model is the same.
    let dir = common::temp_dir("features-pixels-csv");
    let (train, test) = (
        common::synthetic(1200, 8, 11),
        common::synthetic(400, 8, 12),
    );
    let write = |name: &str, set: &Dataset| -> Source {
        let (images, labels) = (
            dir.join(format!("{name}-idx3-ubyte")),
            dir.join(format!("{name}-labels")),
        );
        let Inputs::Pixels {
            images: bytes,
            rows,
            cols,
        } = &set.inputs
        else {
            unreachable!()
        };
        std::fs::write(
            &images,
            trainer::data::idx::encode_images(*rows, *cols, bytes),
        )
        .unwrap();
        std::fs::write(&labels, trainer::data::idx::encode_labels(&set.labels)).unwrap();
        let csv = dir.join(format!("{name}.csv"));
        let mut text = std::iter::once("label".to_owned())
            .chain((0..set.width()).map(|p| format!("pixel{p}")))
            .collect::<Vec<_>>()
            .join(",");
        text.push('\n');
        for i in 0..set.len() {
            let row: Vec<String> = std::iter::once(set.labels[i].to_string())
                .chain(set.image(i).unwrap().iter().map(u8::to_string))
                .collect();
            text.push_str(&row.join(","));
            text.push('\n');
        }
        std::fs::write(&csv, text).unwrap();
        Source::new(&images, Some(&labels), None).unwrap()
    };
    let idx_train = write("train", &train);
    let idx_test = write("test", &test);
    let label = Some("label");
    let csv_train = Source::new(&dir.join("train.csv"), None, label).unwrap();
    let csv_test = Source::new(&dir.join("test.csv"), None, label).unwrap();
    let accuracy = |train: &Source, test: &Source| {
        let (train, test) = train_test(train, &TestData::File(test.clone())).unwrap();
        assert!(matches!(
            train.inputs,
            Inputs::Pixels {
                rows: 8,
                cols: 8,
                ..
            }
        ));
        let (train, test) = (Arc::new(train), Arc::new(test));
        let layers = [Dense::relu(64), Dense::softmax(8)];
        let mut model = common::compile_cpu(64, &layers, 2);
        model.fit(&train, &common::quiet_fit(4, 32)).unwrap();
        model.evaluate(&test).unwrap().accuracy
    };
    let through_idx = accuracy(&idx_train, &idx_test);
    let through_csv = accuracy(&csv_train, &csv_test);
    assert!(through_idx >= 0.95, "IDX: {through_idx}");
    assert_eq!(through_csv, through_idx);
}

#[test]
fn only_tables_that_look_like_pixels_are_read_as_images() {
    use trainer::data::looks_like_pixels;
    let bytes: Vec<f32> = (0..128).map(|v| (v * 2) as f32).collect();
    assert!(looks_like_pixels(&bytes, 64));
    // Fewer than 64 columns, a value that is not a whole byte, or small counts only (the
    // 8x8 digits' 0-16): features, standardized.
    assert!(!looks_like_pixels(&bytes, 63));
    let mut fraction = bytes.clone();
    fraction[5] = 2.5;
    assert!(!looks_like_pixels(&fraction, 64));
    let mut negative = bytes.clone();
    negative[5] = -1.0;
    assert!(!looks_like_pixels(&negative, 64));
    let counts: Vec<f32> = (0..128).map(|v| (v % 17) as f32).collect();
    assert!(!looks_like_pixels(&counts, 64));
}

#[test]
fn the_reading_of_a_table_can_be_chosen_and_pixels_must_be_bytes() {
    use trainer::data::{train_test_as, TableInputs};
    let dir = common::temp_dir("features-table-inputs");
    // 64 byte-valued columns: read as pixels by default, as features on request.
    let header: Vec<String> = (0..64).map(|p| format!("p{p}")).collect();
    let mut text = format!("{},class\n", header.join(","));
    for row in 0..40 {
        let values: Vec<String> = (0..64)
            .map(|p| ((row * 7 + p * 13) % 256).to_string())
            .collect();
        text.push_str(&format!("{},{}\n", values.join(","), row % 2));
    }
    let path = dir.join("bytes.csv");
    std::fs::write(&path, &text).unwrap();
    let source = csv(&path);
    let split = TestData::Split(0.25);
    let read = |inputs| train_test_as(&source, &split, inputs).unwrap().0.inputs;
    assert!(matches!(
        read(TableInputs::Auto),
        Inputs::Pixels {
            rows: 8,
            cols: 8,
            ..
        }
    ));
    assert!(matches!(read(TableInputs::Pixels), Inputs::Pixels { .. }));
    assert!(matches!(
        read(TableInputs::Features),
        Inputs::Features { .. }
    ));
    // Pixels asked of a table holding a value that is not a byte: the file, row and column.
    let path = dir.join("not-bytes.csv");
    std::fs::write(&path, text.replacen("\n0,", "\n0.5,", 1)).unwrap();
    let error = train_test_as(&csv(&path), &split, TableInputs::Pixels)
        .unwrap_err()
        .to_string();
    assert!(error.contains("not-bytes.csv"), "{error}");
    assert!(
        error.contains("sample 0 (counting from 0), column \"p0\": 0.5 is not a pixel"),
        "{error}"
    );
    assert_eq!(
        "nonsense".parse::<TableInputs>().unwrap_err().to_string(),
        "invalid configuration: `nonsense` is not an input kind: auto, pixels or features"
    );
}

#[test]
fn a_model_from_given_parameters_evaluates_as_the_trained_one() {
    let (train_path, test_path) = quadrant_files("features-from-parameters");
    let (train, test) = train_test(&csv(&train_path), &TestData::File(csv(&test_path))).unwrap();
    let (train, test) = (Arc::new(train), Arc::new(test));
    let mut trained = train_quadrants(&train);
    let input = trained.input().unwrap().clone();
    let mut rebuilt =
        Model::from_parameters(trained.parameters().unwrap(), input, Device::Cpu).unwrap();
    assert_eq!(rebuilt.sizes(), trained.sizes());
    assert_eq!(
        rebuilt.evaluate(&test).unwrap(),
        trained.evaluate(&test).unwrap()
    );
    assert_eq!(
        rebuilt.predict(&test).unwrap(),
        trained.predict(&test).unwrap()
    );

    // Parameters that do not fit the transform, or each other, are refused.
    let parameters = trained.parameters().unwrap();
    let error = Model::from_parameters(
        parameters.clone(),
        InputTransform::pixels(28, 28),
        Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        "invalid configuration: the model takes 3 inputs but its input transform reads 784"
    );
    let mut broken = parameters;
    broken.layers[1].bias.pop();
    let error = Model::from_parameters(broken, trained.input().unwrap().clone(), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "invalid configuration: layer 1 of 32x4 holds 128 weights and 3 biases"
    );
}

#[test]
fn an_unfitted_feature_model_says_it_needs_fitting() {
    let (train_path, _) = quadrant_files("features-unfitted");
    let data = Arc::new(csv(&train_path).dataset().unwrap());
    let mut model = common::compile_cpu(3, &[Dense::softmax(4)], 1);
    let error = model.evaluate(&data).unwrap_err().to_string();
    assert_eq!(
        error,
        "invalid configuration: the model has not been fitted: its feature standardization \
         comes from the training data (fit first, or give one with Sequential::input)"
    );
}

/// The error of reading `text` as a training CSV file (with `test`, as its test file),
/// with the folder's path replaced by `DIR`.
fn csv_error(name: &str, text: &str, label: Option<&str>, test: Option<&str>) -> String {
    let dir = common::temp_dir(&format!("features-bad-{name}"));
    let train = dir.join("train.csv");
    std::fs::write(&train, text).unwrap();
    let train = Source::new(&train, None, label).unwrap();
    let test = match test {
        Some(text) => {
            let path = dir.join("test.csv");
            std::fs::write(&path, text).unwrap();
            TestData::File(Source::new(&path, None, label).unwrap())
        }
        None => TestData::Split(0.5),
    };
    let error = train_test(&train, &test).unwrap_err().to_string();
    // The library's one-file reader says the same.
    if test_is_split(&test) {
        assert_eq!(train.dataset().unwrap_err().to_string(), error);
    }
    error.replace(&dir.display().to_string(), "DIR")
}

fn test_is_split(test: &TestData) -> bool {
    matches!(test, TestData::Split(_))
}

const GOOD: &str = "tiny,huge,kind\n0.001,1000,a\n-0.002,2000,b\n0.003,3000,a\n-0.001,1500,b\n";

#[test]
fn bad_data_errors_name_the_file_the_line_and_the_column() {
    // (name, training file, label column, test file, the error)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, &'a str);
    let cases: [Case; 9] = [
        (
            "not-a-number",
            "tiny,huge,kind\n0.001,1000,a\n0.002,lots,b\n",
            None,
            None,
            "DIR/train.csv: line 3, column 2 (\"huge\"): \"lots\" is not a number (every column \
             but the label must be numeric)",
        ),
        (
            "missing",
            "tiny,huge,kind\n0.001,1000,a\n,2000,b\n",
            None,
            None,
            "DIR/train.csv: line 3, column 1 (\"tiny\"): missing value",
        ),
        (
            "ragged",
            "tiny,huge,kind\n0.001,1000,a\n0.002,2000\n",
            None,
            None,
            "DIR/train.csv: line 3: 2 fields, expected 3 (as in the header)",
        ),
        (
            "nan",
            "tiny,huge,kind\n0.001,1000,a\n0.002,NaN,b\n",
            None,
            None,
            "DIR/train.csv: line 3, column 2 (\"huge\"): \"NaN\" (NaN) is not allowed in a feature",
        ),
        (
            "infinite",
            "tiny,huge,kind\n0.001,1000,a\n-inf,2000,b\n",
            None,
            None,
            "DIR/train.csv: line 3, column 1 (\"tiny\"): \"-inf\" is infinite as an f32 \
             (features must be finite, at most 3.4028235e38 in magnitude)",
        ),
        (
            "no-label-column",
            GOOD,
            Some("class"),
            None,
            "DIR/train.csv: line 1: no label column \"class\"; the columns are \"tiny\", \
             \"huge\", \"kind\"",
        ),
        (
            "one-class",
            "tiny,huge,kind\n0.001,1000,a\n0.002,2000,a\n",
            None,
            None,
            "DIR/train.csv: column 3 (\"kind\"): every row has the same label (\"a\"): a \
             classifier needs at least two classes",
        ),
        (
            "test-columns",
            GOOD,
            None,
            Some("tiny,big,kind\n0.001,1000,a\n0.002,2000,b\n"),
            "DIR/test.csv: feature column 2 is \"big\", expected \"huge\"; the columns must \
             match the training data's (DIR/train.csv)",
        ),
        (
            "test-class",
            GOOD,
            None,
            Some("tiny,huge,kind\n0.001,1000,c\n0.002,2000,b\n"),
            "DIR/test.csv: class \"c\" does not occur in the training data (DIR/train.csv)",
        ),
    ];
    for (name, text, label, test, want) in cases {
        assert_eq!(csv_error(name, text, label, test), want, "{name}");
    }
}

#[test]
fn a_test_split_is_stratified_and_the_same_on_every_run() {
    let (train_path, _) = quadrant_files("features-split");
    let source = csv(&train_path);
    let (train, test) = train_test(&source, &TestData::Split(0.25)).unwrap();
    assert_eq!((train.len(), test.len()), (600, 200));
    let count = |data: &Dataset, class: u8| data.labels.iter().filter(|&&l| l == class).count();
    let whole = source.dataset().unwrap();
    for class in 0..4 {
        let share = count(&test, class) as f64 / count(&whole, class) as f64;
        assert!((share - 0.25).abs() < 0.01, "class {class}: {share}");
    }
    assert_eq!(
        train_test(&source, &TestData::Split(0.25)).unwrap(),
        (train, test)
    );
}

#[test]
fn sources_are_told_by_their_names() {
    let path = Path::new;
    assert!(matches!(
        Source::new(path("d/iris.CSV"), None, Some("species")).unwrap(),
        Source::Csv(_, CsvOptions { label: Some(_), .. })
    ));
    assert!(matches!(
        Source::new(path("a.npz"), None, None).unwrap(),
        Source::Npz(..)
    ));
    assert!(matches!(
        Source::new(path("X.npy"), Some(path("y.npy")), None).unwrap(),
        Source::NpyPair(..)
    ));
    assert!(matches!(
        Source::new(path("train-images-idx3-ubyte.gz"), Some(path("l.gz")), None).unwrap(),
        Source::Idx(..)
    ));
    let name = |p: &str| Source::new(path(p), None, None).unwrap().model_name();
    assert_eq!(name("d/iris.csv"), "iris");
    assert_eq!(name("d/iris-train.csv"), "iris");
    assert_eq!(name("wine/train.csv"), "wine");
    let error = |p: &str, labels: Option<&str>, label: Option<&str>| {
        Source::new(path(p), labels.map(path), label)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error("data.txt", None, None),
        "invalid configuration: data.txt: unknown file type: expected .csv, .npz, .npy (with \
         a labels .npy) or an IDX file (...-ubyte or .idx*, raw or .gz, with its label file)"
    );
    assert_eq!(
        error("X.npy", None, None),
        "invalid configuration: X.npy: a .npy file needs its labels file (--train-labels or \
         --test-labels)"
    );
    assert_eq!(
        error("a.npz", None, Some("y")),
        "invalid configuration: a.npz: a label column (--label) applies to CSV files only"
    );
    assert_eq!(
        error("a.csv", Some("y.npy"), None),
        "invalid configuration: a.csv: a CSV file holds its own labels; drop the labels file \
         y.npy"
    );
}

/// Runs the trainer binary with `args`; returns (success, stderr).
fn trainer(args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn command_line_data_options_are_checked_before_any_data_is_read() {
    let dir = common::temp_dir("features-cli");
    let good = dir.join("good.csv");
    std::fs::write(&good, GOOD).unwrap();
    let good = good.to_str().unwrap();
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (
            &["--train", good, "--test-split", "0.2", "--name", "../x"],
            "invalid value '../x' for '--name <NAME>': `../x` is not a file name (it names the \
             blob files)",
        ),
        (
            &["--train", good, "--out-dir", out],
            "error: --train needs test data: --test FILE, or --test-split F to hold out a \
             fraction of the training file",
        ),
        (&["--test", good], "--train <FILE>"),
        (
            &["--train", good, "--test-split", "1.5"],
            "invalid value '1.5' for '--test-split <F>': 1.5 is not in (0, 1)",
        ),
        (
            &["--train", good, "--test", good, "--test-split", "0.2"],
            "the argument '--test <FILE>' cannot be used with '--test-split <F>'",
        ),
        (
            &[
                "--train",
                "missing.npy",
                "--test-split",
                "0.2",
                "--out-dir",
                out,
            ],
            "error: invalid configuration: missing.npy: a .npy file needs its labels file \
             (--train-labels or --test-labels)",
        ),
        (
            &["--train", good, "--skip-checksum", "--test-split", "0.2"],
            "the argument '--train <FILE>' cannot be used with '--skip-checksum'",
        ),
    ];
    for (args, want) in cases {
        let (ok, stderr) = trainer(args);
        assert!(!ok, "{args:?} succeeded");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    assert!(!Path::new(out).exists(), "nothing was written");
}

#[test]
fn command_line_bad_data_names_the_file_line_and_column() {
    let dir = common::temp_dir("features-cli-bad-data");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "a,b,kind\n1,2,x\n3,oops,y\n").unwrap();
    let out = dir.join("out");
    let (ok, stderr) = trainer(&[
        "--train",
        bad.to_str().unwrap(),
        "--test-split",
        "0.5",
        "--out-dir",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!ok);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: {}: line 3, column 2 (\"b\"): \"oops\" is not a number (every column but \
             the label must be numeric)",
            bad.display()
        )
    );
}

#[test]
fn idx_files_of_any_shape_and_element_type() {
    use trainer::data::idx::parse_samples;
    let path = Path::new("samples");
    // u8 samples of (2, 2, 3): images of 2 rows of 6.
    let bytes: Vec<u8> = (0..24).collect();
    let (count, inputs) =
        parse_samples(path, common::idx_file(0x08, &[2, 2, 2, 3], &bytes)).unwrap();
    assert_eq!(count, 2);
    assert_eq!(
        inputs,
        Inputs::Pixels {
            images: bytes,
            rows: 2,
            cols: 6
        }
    );
    // f32, i16 and f64 samples become features.
    let floats: Vec<u8> = [1.5f32, -2.0, 1e-3, 4e3]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let (_, inputs) = parse_samples(path, common::idx_file(0x0D, &[2, 2], &floats)).unwrap();
    let Inputs::Features { values, columns } = inputs else {
        panic!("f32 samples are features");
    };
    assert_eq!(
        (values, columns),
        (vec![1.5, -2.0, 1e-3, 4e3], vec!["0".into(), "1".into()])
    );
    let shorts: Vec<u8> = [-300i16, 7].iter().flat_map(|v| v.to_be_bytes()).collect();
    let (_, inputs) = parse_samples(path, common::idx_file(0x0B, &[2, 1], &shorts)).unwrap();
    assert!(matches!(inputs, Inputs::Features { values, .. } if values == [-300.0, 7.0]));

    let error = |bytes: Vec<u8>| parse_samples(path, bytes).unwrap_err().to_string();
    let nan: Vec<u8> = [1.0f64, f64::NAN]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    assert_eq!(
        error(common::idx_file(0x0E, &[1, 2], &nan)),
        "samples: sample 0, value 1: NaN is not allowed in a feature (features must be finite \
         f32 values)"
    );
    assert_eq!(
        error(common::idx_file(0x08, &[3], &[1, 2, 3])),
        "samples: magic number 0x00000801: 1 dimension(s), so no values per sample (a label \
         file?): samples need 2 or more dimensions, as images have 3 (0x00000803)"
    );
    assert_eq!(
        error(common::idx_file(0x0A, &[1, 1], &[0])),
        "samples: wrong magic number 0x00000a02: not an IDX file (expected 0x0000TTDD: \
         element type TT 08 u8, 09 i8, 0B i16, 0C i32, 0D f32 or 0E f64, DD dimensions)"
    );
    assert_eq!(
        error(common::idx_file(0x08, &[1, 65, 64], &[0; 65 * 64])),
        "samples: samples of shape [65, 64]: a model takes 1..=4096 inputs (the model \
         format's limit)"
    );
    assert_eq!(
        error(common::idx_file(0x0C, &[2, 1], &[0; 7])),
        "samples: 19 bytes, expected 20 for 2 samples of shape [1] (truncated)"
    );

    // Damaged headers are errors, never panics.
    let good = common::idx_file(0x0D, &[2, 2], &floats);
    let mut rng = Rng::new(5);
    for _ in 0..4000 {
        let mut bytes = good.clone();
        for _ in 0..=rng.below(3) {
            let at = rng.below(bytes.len().min(16));
            bytes[at] = (rng.next_f32() * 256.0) as u8;
        }
        bytes.truncate(rng.below(bytes.len() + 1).max(bytes.len() - rng.below(2)));
        let _ = parse_samples(path, bytes);
    }
}

#[test]
fn idx_features_train_through_the_same_path() {
    let dir = common::temp_dir("features-idx");
    let rows = quadrants(1000, 7);
    let values: Vec<u8> = rows
        .iter()
        .flat_map(|(f, _)| f.iter().flat_map(|v| v.to_be_bytes()))
        .collect();
    let labels: Vec<u8> = rows.iter().map(|(_, c)| *c).collect();
    let samples = dir.join("quadrants.idx2");
    std::fs::write(&samples, common::idx_file(0x0D, &[1000, 3], &values)).unwrap();
    let label_file = dir.join("quadrants-labels.idx1");
    std::fs::write(&label_file, trainer::data::idx::encode_labels(&labels)).unwrap();
    let source = Source::new(&samples, Some(&label_file), None).unwrap();
    let (train, test) = train_test(&source, &TestData::Split(0.25)).unwrap();
    assert_eq!(train.width(), 3);
    let (train, test) = (Arc::new(train), Arc::new(test));
    let accuracy = train_quadrants(&train).evaluate(&test).unwrap().accuracy;
    assert!(accuracy >= 0.95, "{accuracy}");
}

#[test]
fn feature_blobs_carry_the_standardization_and_names_and_int8_stays_within_a_point() {
    use trainer::export::score_blob;
    use trainer::ExportOptions;
    let (train_path, test_path) = quadrant_files("features-blobs");
    let source = csv(&train_path);
    let (train, test) = train_test(&source, &TestData::File(csv(&test_path))).unwrap();
    let (train, test) = (Arc::new(train), Arc::new(test));
    let mut model = train_quadrants(&train);
    let float = model.evaluate(&test).unwrap();
    let options = ExportOptions {
        name: Some(source.model_name()),
        ..ExportOptions::default()
    };
    let blobs = model.export(&train, &options).unwrap();

    let Some(InputTransform::Features { offsets, scales }) = model.input().cloned() else {
        panic!("a feature model");
    };
    for blob in [&blobs.f32, &blobs.int8] {
        let loaded = tinymlp::Model::from_bytes(blob).unwrap();
        assert_eq!(loaded.name(), Some("quadrants"));
        let names: Vec<&str> = (0..4).filter_map(|c| loaded.class_name(c)).collect();
        assert_eq!(names, train.class_names);
        let tinymlp::Input::Features(spec) = loaded.input() else {
            panic!("a feature blob");
        };
        let (stored_offsets, stored_scales): (Vec<f32>, Vec<f32>) = spec.transforms().unzip();
        assert_eq!(
            (stored_offsets, stored_scales),
            (offsets.clone(), scales.clone())
        );
    }
    // The int8 blob quantizes the standardized features with an i8 zero point.
    let int8 = tinymlp::Model::from_bytes(&blobs.int8).unwrap();
    let tinymlp::Params::Int8(first) = &int8.layers()[0].params else {
        panic!("an int8 blob");
    };
    assert!((-128..=127).contains(&first.input.zero_point));

    let f32_score = score_blob(&blobs.f32, &test).unwrap();
    let int8_score = score_blob(&blobs.int8, &test).unwrap();
    // The f32 blob reads raw features as training read them: the same predictions.
    assert_eq!(f32_score.predictions, float.predictions);
    assert!(
        (int8_score.accuracy - f32_score.accuracy).abs() <= 0.01,
        "int8 {} vs f32 {}",
        int8_score.accuracy,
        f32_score.accuracy
    );

    // A model rebuilt from the parameters exports the same blobs.
    let mut rebuilt = Model::from_parameters(
        model.parameters().unwrap(),
        model.input().unwrap().clone(),
        Device::Cpu,
    )
    .unwrap();
    assert_eq!(rebuilt.export(&train, &options).unwrap(), blobs);
}

#[test]
fn the_command_line_trains_a_csv_file_and_names_its_blobs_and_classes() {
    let (train, test) = quadrant_files("features-cli-train");
    let out = train.parent().unwrap().join("out");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["--train", train.to_str().unwrap()])
        .args(["--test", test.to_str().unwrap()])
        .args([
            "--hidden",
            "32",
            "--epochs",
            "12",
            "--batch-size",
            "32",
            "--seed",
            "5",
        ])
        .args([
            "--device",
            "cpu",
            "--quiet",
            "--out-dir",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "data: 800 training and 400 test samples of 3 features in 4 classes from {} and {}",
            train.display(),
            test.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("classes: north-east, north-west, south-east, south-west"));
    for class in NAMES {
        assert!(stdout.contains(&format!("  {class:<18} ")), "{stdout}");
    }
    let blob = std::fs::read(out.join("quadrants-int8.tmlp")).unwrap();
    assert_eq!(
        tinymlp::Model::from_bytes(&blob).unwrap().name(),
        Some("quadrants")
    );
    assert!(out.join("quadrants-f32.tmlp").is_file());
    assert!(!out.join("mnist-test-digits.bin").exists());
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["name"], "quadrants");
    assert_eq!(report["class_names"][0], "north-east");
    let int8 = report["int8_blob"]["score"]["accuracy"].as_f64().unwrap();
    let f32 = report["f32_blob"]["score"]["accuracy"].as_f64().unwrap();
    assert!(
        f32 >= 0.97 && (int8 - f32).abs() <= 0.01,
        "int8 {int8}, f32 {f32}"
    );

    // `show` prints a sample's features, its class name and the blob's prediction.
    let shown = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["show", "--file", test.to_str().unwrap(), "--index", "0"])
        .args(["--model", out.join("quadrants-int8.tmlp").to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(text.starts_with("tiny = "), "{text}");
    assert!(text.contains("sample 0: label "), "{text}");
    assert!(text.contains("model (int8): predicts "), "{text}");
}

#[test]
fn numpy_files_train_through_the_command_line_too() {
    use common::numpy::{le, npy_bytes, npz};
    let dir = common::temp_dir("features-cli-npz");
    let rows = quadrants(1000, 8);
    let x: Vec<f64> = rows.iter().flat_map(|(f, _)| f.map(f64::from)).collect();
    let y: Vec<i64> = rows.iter().map(|(_, c)| i64::from(*c)).collect();
    let x = npy_bytes("<f8", &[1000, 3], false, &le(&x, f64::to_le_bytes));
    let y = npy_bytes("<i8", &[1000], false, &le(&y, i64::to_le_bytes));
    let archive = dir.join("quadrants.npz");
    std::fs::write(
        &archive,
        npz(&[("X", &x), ("y", &y)], zip::CompressionMethod::Deflated),
    )
    .unwrap();
    std::fs::write(dir.join("X.npy"), &x).unwrap();
    std::fs::write(dir.join("y.npy"), &y).unwrap();
    let out = dir.join("out");
    for train in [
        vec!["--train", archive.to_str().unwrap()],
        vec!["--train", "X.npy", "--train-labels", "y.npy"],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
            .current_dir(&dir)
            .args(&train)
            .args(["--test-split", "0.25", "--hidden", "32", "--epochs", "12"])
            .args(["--batch-size", "32", "--device", "cpu", "--quiet"])
            .args(["--out-dir", out.to_str().unwrap(), "--name", "quadrants"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{train:?}: {stderr}");
        assert!(
            stderr.contains("data: 749 training and 251 test samples of 3 features in 4 classes"),
            "{stderr}"
        );
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        let int8 = report["int8_blob"]["score"]["accuracy"].as_f64().unwrap();
        assert!(int8 >= 0.95, "{train:?}: int8 {int8}");
        assert!(out.join("quadrants-int8.tmlp").is_file());
    }
}

#[test]
fn more_features_than_the_format_takes_is_an_error_naming_the_limit() {
    let dir = common::temp_dir("features-too-wide");
    let path = dir.join("wide.csv");
    let header: Vec<String> = (0..4097).map(|j| format!("f{j}")).collect();
    let row = vec!["1"; 4097].join(",");
    let text = format!("{},label\n{row},a\n{row},b\n", header.join(","));
    std::fs::write(&path, text).unwrap();
    let error = Dataset::from_csv(&path, &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!(
            "{}: 4097 feature columns: a model takes at most 4096 inputs (the model format's \
             limit)",
            path.display()
        )
    );
}
