//! The NumPy reader (`.npy` pairs and `.npz` archives): every dtype and layout, files
//! written by NumPy itself, and every error word for word; pixels through CSV and NumPy
//! against the IDX reader.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use trainer::data::csv::CsvOptions;
use trainer::data::npy::{parse_npy_pair, parse_npz, NpzOptions};
use trainer::data::{idx, read_csv, read_npy_pair, read_npz};
use trainer::rng::Rng;

use common::numpy::{le, npy_bytes, npz, pair};

// ---------------------------------------------------------------------------------------
// NumPy

#[test]
fn npy_pairs_of_every_numeric_dtype_read_the_same_values() {
    let values = [1i64, 0, 2, 3, 4, 5];
    let labels = npy_bytes("<i8", &[3], false, &le(&[0i64, 1, 0], i64::to_le_bytes));
    let expected: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    let encodings: Vec<(&str, Vec<u8>)> = vec![
        ("|u1", values.iter().map(|&v| v as u8).collect()),
        ("|i1", values.iter().map(|&v| v as i8 as u8).collect()),
        ("<u2", le(&values.map(|v| v as u16), u16::to_le_bytes)),
        ("<i2", le(&values.map(|v| v as i16), i16::to_le_bytes)),
        ("<u4", le(&values.map(|v| v as u32), u32::to_le_bytes)),
        ("<i4", le(&values.map(|v| v as i32), i32::to_le_bytes)),
        (">i4", le(&values.map(|v| v as i32), i32::to_be_bytes)),
        ("<u8", le(&values.map(|v| v as u64), u64::to_le_bytes)),
        ("<i8", le(&values, i64::to_le_bytes)),
        ("<f4", le(&values.map(|v| v as f32), f32::to_le_bytes)),
        (">f8", le(&values.map(|v| v as f64), f64::to_be_bytes)),
        ("<f8", le(&values.map(|v| v as f64), f64::to_le_bytes)),
    ];
    for (descr, data) in encodings {
        let table = pair(&npy_bytes(descr, &[3, 2], false, &data), &labels)
            .unwrap_or_else(|e| panic!("{descr}: {e}"));
        assert_eq!(table.features, expected, "{descr}");
        assert_eq!(table.columns, ["0", "1"]);
        assert_eq!(table.labels, [0, 1, 0]);
        assert_eq!(table.classes, 2);
        assert_eq!(table.path, Path::new("X.npy"));
    }
    let negative = pair(
        &npy_bytes(
            "<i2",
            &[3, 1],
            false,
            &le(&[-300i16, 7, -1], i16::to_le_bytes),
        ),
        &labels,
    )
    .unwrap();
    assert_eq!(negative.features, [-300.0, 7.0, -1.0]);
}

#[test]
fn npy_fortran_order_and_extra_axes_become_c_order_rows() {
    let labels = npy_bytes("|u1", &[2], false, &[1, 0]);
    // [[1, 2, 3], [4, 5, 6]] stored column by column.
    let fortran = npy_bytes(
        "<f4",
        &[2, 3],
        true,
        &le(&[1f32, 4., 2., 5., 3., 6.], f32::to_le_bytes),
    );
    assert_eq!(
        pair(&fortran, &labels).unwrap().features,
        [1., 2., 3., 4., 5., 6.]
    );
    // Shape (2, 2, 2) in Fortran order: element [s, i, j] stored at s + 2 i + 4 j.
    let c_order: Vec<f32> = (0..8).map(|v| v as f32).collect();
    let mut stored = vec![0f32; 8];
    for s in 0..2 {
        for i in 0..2 {
            for j in 0..2 {
                stored[s + 2 * i + 4 * j] = c_order[4 * s + 2 * i + j];
            }
        }
    }
    let cube = npy_bytes("<f4", &[2, 2, 2], true, &le(&stored, f32::to_le_bytes));
    let table = pair(&cube, &labels).unwrap();
    assert_eq!(table.features, c_order);
    assert_eq!(table.width(), 4);
    // One feature per row from a 1-D X; labels of shape (n, 1).
    let column = npy_bytes("<f4", &[2], false, &le(&[0.5f32, 1.5], f32::to_le_bytes));
    let y_column = npy_bytes("|u1", &[2, 1], false, &[1, 0]);
    assert_eq!(pair(&column, &y_column).unwrap().features, [0.5, 1.5]);
}

#[test]
fn npy_string_and_float_labels() {
    let x = npy_bytes(
        "<f4",
        &[3, 1],
        false,
        &le(&[1f32, 2., 3.], f32::to_le_bytes),
    );
    let utf32 = |s: &str, width: usize| -> Vec<u8> {
        let mut units: Vec<u32> = s.chars().map(u32::from).collect();
        units.resize(width, 0);
        le(&units, u32::to_le_bytes)
    };
    let unicode: Vec<u8> = ["wave", "idle", "wave"]
        .iter()
        .flat_map(|s| utf32(s, 5))
        .collect();
    let table = pair(&x, &npy_bytes("<U5", &[3], false, &unicode)).unwrap();
    assert_eq!(table.class_names, ["idle", "wave"]);
    assert_eq!(table.labels, [1, 0, 1]);
    let bytes: Vec<u8> = [&b"b\0\0"[..], b"abc", b"b\0\0"].concat();
    let table = pair(&x, &npy_bytes("|S3", &[3], false, &bytes)).unwrap();
    assert_eq!(table.class_names, ["abc", "b"]);
    assert_eq!(table.labels, [1, 0, 1]);
    let floats = npy_bytes(
        "<f8",
        &[3],
        false,
        &le(&[2.0f64, 0.0, 1.0], f64::to_le_bytes),
    );
    let table = pair(&x, &floats).unwrap();
    assert_eq!((table.labels, table.classes), (vec![2, 0, 1], 3));
}

#[test]
fn npy_errors_name_the_file_array_and_index() {
    let x = |v: &[f32]| npy_bytes("<f4", &[v.len() / 2, 2], false, &le(v, f32::to_le_bytes));
    let y = |v: &[i64]| npy_bytes("<i8", &[v.len()], false, &le(v, i64::to_le_bytes));
    let good_x = x(&[1., 2., 3., 4.]);
    let good_y = y(&[0, 1]);
    let mut truncated = good_x.clone();
    truncated.pop();
    let mut huge_header = b"\x93NUMPY\x02\x00\xff\xff\xff\xff".to_vec();
    huge_header.extend_from_slice(b"{'descr'");
    let cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
        (x(&[1., 2., 3., f32::NAN]), good_y.clone(), "X.npy: array X, index [1, 1]: NaN is not allowed in a feature (features must be finite f32 values)"),
        (x(&[1., f32::NEG_INFINITY, 3., 4.]), good_y.clone(), "X.npy: array X, index [0, 1]: -inf is not allowed in a feature (features must be finite f32 values)"),
        (npy_bytes("<f8", &[1, 2], false, &le(&[1e300f64, 0.0], f64::to_le_bytes)), y(&[0]), "X.npy: array X, index [0, 0]: 1e300 is not allowed in a feature (features must be finite f32 values)"),
        (good_x.clone(), y(&[0, -2]), "y.npy: array y, index 1: label -2 is negative: integer labels are classes 0..=255"),
        (good_x.clone(), y(&[300, 1]), "y.npy: array y, index 0: label 300 is above 255: at most 256 classes (labels are u8)"),
        (good_x.clone(), y(&[1, 1]), "y.npy: array y: every row has the same label (1): a classifier needs at least two classes"),
        (good_x.clone(), y(&[0, 1, 0]), "y.npy: array y holds 3 labels for the 2 samples of X (X.npy)"),
        (good_x.clone(), npy_bytes("<i8", &[1, 2], false, &le(&[0i64, 1], i64::to_le_bytes)), "y.npy: array y has shape (1, 2): expected one label per sample, (2,)"),
        (good_x.clone(), npy_bytes("<f4", &[2], false, &le(&[0.5f32, 1.], f32::to_le_bytes)), "y.npy: array y, index 0: label 0.5 is not a whole number (labels must be integers or strings)"),
        (good_x.clone(), npy_bytes("|O", &[2], false, &[0; 16]), "y.npy: dtype '|O' is a pickled object array, which is not read (save strings with a fixed-width dtype, e.g. y.astype(str))"),
        (npy_bytes("|b1", &[2, 1], false, &[0, 1]), good_y.clone(), "X.npy: dtype '|b1' is not supported (features: uint8..uint64, int8..int64, float32, float64; labels also fixed-width strings 'U' or 'S')"),
        (npy_bytes("<f2", &[2, 1], false, &[0; 4]), good_y.clone(), "X.npy: dtype '<f2' is not supported (features: uint8..uint64, int8..int64, float32, float64; labels also fixed-width strings 'U' or 'S')"),
        (npy_bytes("<U1", &[2, 1], false, &[0; 8]), good_y.clone(), "X.npy: array X has dtype '<U1': features must be numbers"),
        (npy_bytes("<f4", &[], false, &[0; 4]), good_y.clone(), "X.npy: array X is a scalar: expected (samples, features)"),
        (npy_bytes("<f4", &[2, 0], false, &[]), good_y.clone(), "X.npy: array X of shape (2, 0) has no features"),
        (npy_bytes("<f4", &[0, 1 << 40, 1 << 40], false, &[]), y(&[]), "X.npy: array X of shape (0, 1099511627776, 1099511627776) holds no samples"),
        (truncated, good_y.clone(), "X.npy: shape (2, 2) of '<f4' needs 16 data bytes, the file has 15 (truncated)"),
        (b"PK\x03\x04 not numpy".to_vec(), good_y.clone(), "X.npy: not a .npy file (no \\x93NUMPY magic)"),
        (huge_header, good_y.clone(), "X.npy: truncated: the header claims 4294967295 bytes, 8 are present"),
        // A header may claim any shape: nothing is allocated before the bytes are counted.
        (npy_bytes("<f8", &[1 << 40, 1 << 20], false, &[0; 8]), good_y.clone(), "X.npy: shape (1099511627776, 1048576) of '<f8' needs 9223372036854775808 data bytes, the file has 8 (truncated)"),
        (npy_bytes("<f8", &[1 << 62, 1], false, &[]), good_y.clone(), "X.npy: shape (4611686018427387904, 1) of '<f8' is larger than memory can hold"),
        (npy_bytes("<f8", &[1 << 62, 1 << 62], false, &[]), good_y.clone(), "X.npy: shape (4611686018427387904, 4611686018427387904) of '<f8' is larger than memory can hold"),
        (
            b"\x93NUMPY\x01\x00\x40\x00{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }       \n".to_vec(),
            good_y.clone(),
            "X.npy: structured dtypes (records) are not supported",
        ),
    ];
    for (x, y, expected) in cases {
        assert_eq!(pair(&x, &y).unwrap_err().to_string(), expected);
    }
}

#[test]
fn npz_archives_stored_or_deflated_with_default_or_chosen_names() {
    let x = npy_bytes(
        "<f4",
        &[2, 2],
        false,
        &le(&[1f32, 2., 3., 4.], f32::to_le_bytes),
    );
    let y = npy_bytes("<i8", &[2], false, &le(&[1i64, 0], i64::to_le_bytes));
    for method in [
        zip::CompressionMethod::Stored,
        zip::CompressionMethod::Deflated,
    ] {
        for (x_name, y_name) in [("X", "y"), ("x", "Y")] {
            let archive = npz(&[(x_name, &x), (y_name, &y)], method);
            let table = parse_npz(Path::new("d.npz"), &archive, &NpzOptions::default()).unwrap();
            assert_eq!(
                (table.features.as_slice(), table.labels.as_slice()),
                (&[1., 2., 3., 4.][..], &[1, 0][..])
            );
            assert_eq!(table.path, Path::new("d.npz"));
        }
    }
    let archive = npz(
        &[("train_x", &x), ("train_y", &y), ("X", &y)],
        zip::CompressionMethod::Deflated,
    );
    let chosen = NpzOptions {
        features: Some("train_x".into()),
        labels: Some("train_y".into()),
    };
    assert_eq!(
        parse_npz(Path::new("d.npz"), &archive, &chosen)
            .unwrap()
            .labels,
        [1, 0]
    );
    assert_eq!(
        parse_npz(Path::new("d.npz"), &archive, &NpzOptions::default())
            .unwrap_err()
            .to_string(),
        "d.npz: no array \"y\" or \"Y\" in the archive (it holds \"train_x\", \"train_y\", \"X\")"
    );
    let asked = NpzOptions {
        features: Some("features".into()),
        labels: None,
    };
    assert_eq!(
        parse_npz(Path::new("d.npz"), &archive, &asked)
            .unwrap_err()
            .to_string(),
        "d.npz: no array \"features\" in the archive (it holds \"train_x\", \"train_y\", \"X\")"
    );
    // Errors inside an archive name the array.
    let bad_y = npy_bytes("<i8", &[2], false, &le(&[1i64, 1000], i64::to_le_bytes));
    let archive = npz(
        &[("X", &x), ("y", &bad_y)],
        zip::CompressionMethod::Deflated,
    );
    assert_eq!(
        parse_npz(Path::new("d.npz"), &archive, &NpzOptions::default())
            .unwrap_err()
            .to_string(),
        "d.npz: array y, index 1: label 1000 is above 255: at most 256 classes (labels are u8)"
    );
    let error = parse_npz(Path::new("d.npz"), b"not a zip", &NpzOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("d.npz: not a valid .npz (zip) archive: "),
        "{error}"
    );
}

#[test]
fn npz_entry_claiming_more_than_deflate_can_give_is_refused_before_reading() {
    let x = npy_bytes("<f4", &[2, 1], false, &le(&[1f32, 2.], f32::to_le_bytes));
    let y = npy_bytes("|u1", &[2], false, &[0, 1]);
    let mut archive = npz(&[("X", &x), ("y", &y)], zip::CompressionMethod::Stored);
    // Claim 3 GB uncompressed for every entry, in the local and the central headers.
    let claim = 3_000_000_000u32.to_le_bytes();
    for (signature, offset) in [(*b"PK\x03\x04", 22), (*b"PK\x01\x02", 24)] {
        let starts: Vec<usize> = archive
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == signature)
            .map(|(at, _)| at)
            .collect();
        for at in starts {
            archive[at + offset..at + offset + 4].copy_from_slice(&claim);
        }
    }
    let error = parse_npz(Path::new("d.npz"), &archive, &NpzOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!(
            "d.npz: array X: claims 3000000000 bytes from {} compressed",
            x.len()
        )
    );
}

#[test]
fn numpy_files_are_read_from_disk() {
    let dir = common::temp_dir("numpy-files");
    let x = npy_bytes("<f4", &[2, 1], false, &le(&[1f32, 2.], f32::to_le_bytes));
    let y = npy_bytes("|u1", &[2], false, &[0, 1]);
    std::fs::write(dir.join("X.npy"), &x).unwrap();
    std::fs::write(dir.join("y.npy"), &y).unwrap();
    std::fs::write(
        dir.join("d.npz"),
        npz(&[("X", &x), ("y", &y)], zip::CompressionMethod::Deflated),
    )
    .unwrap();
    let from_pair = read_npy_pair(&dir.join("X.npy"), &dir.join("y.npy")).unwrap();
    let from_npz = read_npz(&dir.join("d.npz"), &NpzOptions::default()).unwrap();
    assert_eq!(from_pair.features, from_npz.features);
    assert_eq!(from_pair.labels, from_npz.labels);
    assert_eq!(from_npz.path, dir.join("d.npz"));
}

fn numpy_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/numpy")
        .join(name)
}

#[test]
fn numpy_fixtures_written_by_numpy_read_back() {
    // Files written by NumPy 2.4.6 (tests/data/numpy/make.py): its own headers (padded to
    // 128 bytes), byte orders, Fortran order, string dtypes and both kinds of archive.
    let f = numpy_fixture;
    let x = [0.5, 1.0, 2.0, -3.0, 4.25, 5.0];
    let table = read_npy_pair(&f("X-float32.npy"), &f("y-str.npy")).unwrap();
    assert_eq!(table.features, x);
    assert_eq!((table.rows(), table.width()), (3, 2));
    assert_eq!(table.class_names, ["run", "walk"]);
    assert_eq!(table.labels, [1, 0, 1]);
    let table = read_npy_pair(&f("X-float64-big-endian.npy"), &f("y-int64.npy")).unwrap();
    assert_eq!(table.features, x);
    assert_eq!(
        (table.labels.as_slice(), table.classes),
        (&[2, 0, 1][..], 3)
    );
    let images = read_npy_pair(&f("images-uint8-fortran.npy"), &f("y-uint8-2.npy")).unwrap();
    assert_eq!(
        images.features,
        (0..24).map(|v| v as f32).collect::<Vec<_>>()
    );
    assert_eq!(images.width(), 12);
    let compressed = read_npz(&f("compressed.npz"), &NpzOptions::default()).unwrap();
    assert_eq!(compressed.features, x);
    assert_eq!(compressed.class_names, ["run", "walk"]);
    let stored = read_npz(&f("stored.npz"), &NpzOptions::default()).unwrap();
    assert_eq!(stored.features, [0., 1., 2., -3., 4., 5.]);
    assert_eq!(stored.labels, [2, 0, 1]);
    let error = read_npy_pair(&f("X-float32.npy"), &f("y-object.npy")).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: dtype '|O' is a pickled object array, which is not read (save strings with a fixed-width dtype, e.g. y.astype(str))",
            f("y-object.npy").display()
        )
    );
}

// ---------------------------------------------------------------------------------------
// Pixels through CSV and NumPy against the IDX reader

#[test]
fn csv_pixels_match_the_idx_reader() {
    let (count, side) = (6, 28);
    let mut rng = Rng::new(784);
    let pixels: Vec<u8> = (0..count * side * side)
        .map(|_| rng.below(256) as u8)
        .collect();
    let labels: Vec<u8> = (0..count).map(|i| (i % 3) as u8 * 3).collect();
    let dir = common::temp_dir("pixels");
    let (image_path, label_path) = (dir.join("images-idx3-ubyte"), dir.join("labels-idx1-ubyte"));
    std::fs::write(&image_path, idx::encode_images(side, side, &pixels)).unwrap();
    std::fs::write(&label_path, idx::encode_labels(&labels)).unwrap();
    let dataset = idx::dataset(
        (image_path.clone(), std::fs::read(&image_path).unwrap()),
        (label_path.clone(), std::fs::read(&label_path).unwrap()),
        None,
    )
    .unwrap();

    // The Kaggle layout: the label first, then pixel0..pixel783.
    let csv_path = dir.join("pixels.csv");
    let mut file = std::fs::File::create(&csv_path).unwrap();
    let header: Vec<String> = std::iter::once("label".to_owned())
        .chain((0..side * side).map(|p| format!("pixel{p}")))
        .collect();
    writeln!(file, "{}", header.join(",")).unwrap();
    for (i, label) in labels.iter().enumerate() {
        let row: Vec<String> = std::iter::once(label.to_string())
            .chain(dataset.image(i).unwrap().iter().map(u8::to_string))
            .collect();
        writeln!(file, "{}", row.join(",")).unwrap();
    }
    drop(file);
    let options = CsvOptions {
        label: Some("label".into()),
        ..CsvOptions::default()
    };
    let table = read_csv(&csv_path, &options).unwrap();

    assert_eq!(
        (table.rows(), table.width()),
        (dataset.len(), dataset.width())
    );
    assert_eq!(table.labels, dataset.labels);
    assert_eq!(table.classes, dataset.classes);
    let as_f32: Vec<f32> = (0..dataset.len())
        .flat_map(|i| dataset.image(i).unwrap())
        .map(|&p| f32::from(p))
        .collect();
    assert_eq!(table.features, as_f32);
    // The NumPy reader agrees too (uint8 images of shape (n, 28, 28), flattened row by row).
    let x = npy_bytes("|u1", &[count, side, side], false, &pixels);
    let y = npy_bytes("|u1", &[count], false, &labels);
    let from_npy = parse_npy_pair((Path::new("X.npy"), &x), (Path::new("y.npy"), &y)).unwrap();
    assert_eq!(from_npy.features, as_f32);
    assert_eq!(from_npy.labels, dataset.labels);
}
