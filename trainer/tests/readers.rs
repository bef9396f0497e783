//! The CSV and NumPy readers: what they read, every error word for word, the table's
//! operations (column checks, class alignment, the seeded split), CSV pixels against the
//! IDX reader, and the fuzz corpus replayed on stable Rust.

use std::io::Write;
use std::path::{Path, PathBuf};

use trainer::data::csv::{parse_csv, CsvOptions};
use trainer::data::npy::{parse_npy_pair, parse_npz, NpzOptions};
use trainer::data::{idx, read_csv, read_npy_pair, read_npz, Table};
use trainer::rng::Rng;

mod fuzz {
    include!("../fuzz/fuzz_targets/readers.rs");
}

// ---------------------------------------------------------------------------------------
// CSV

fn csv(text: &str) -> Table {
    csv_with(text, &CsvOptions::default())
}

fn csv_with(text: &str, options: &CsvOptions) -> Table {
    parse_csv(Path::new("t.csv"), text.as_bytes(), options).expect("valid CSV")
}

fn csv_error(text: &[u8], options: &CsvOptions) -> String {
    match parse_csv(Path::new("t.csv"), text, options) {
        Ok(table) => panic!("accepted: {table:?}"),
        Err(e) => e.to_string(),
    }
}

fn label(name: &str) -> CsvOptions {
    CsvOptions {
        label: Some(name.to_owned()),
        ..CsvOptions::default()
    }
}

#[test]
fn csv_string_labels_become_sorted_classes_with_names() {
    let table = csv("a,b,species\n1,2,virginica\n3.5,-4e-3,setosa\n0,0,versicolor\n7,8,setosa\n");
    assert_eq!(table.columns, ["a", "b"]);
    assert_eq!(table.features, [1.0, 2.0, 3.5, -4e-3, 0.0, 0.0, 7.0, 8.0]);
    assert_eq!(table.class_names, ["setosa", "versicolor", "virginica"]);
    assert_eq!(table.labels, [2, 0, 1, 0]);
    assert_eq!(table.classes, 3);
    assert_eq!(table.path, Path::new("t.csv"));
    assert_eq!(table.row(1), [3.5, -4e-3]);
    assert_eq!(table.class_name(1), "versicolor");
}

#[test]
fn csv_integer_labels_are_their_own_classes() {
    // Class 1 is never used: it stays a class, since the numbering is the user's.
    let table = csv_with("label,x,z\n3,0.5,1\n0,1,2\n2,1.5,3\n", &label("label"));
    assert_eq!(table.columns, ["x", "z"]);
    assert_eq!(table.features, [0.5, 1.0, 1.0, 2.0, 1.5, 3.0]);
    assert_eq!(table.labels, [3, 0, 2]);
    assert_eq!(table.classes, 4);
    assert!(table.class_names.is_empty());
    assert_eq!(table.class_name(3), "3");
}

#[test]
fn csv_mixed_labels_are_strings() {
    let table = csv("x,y\n1,10\n2,9\n3,cat\n");
    assert_eq!(table.class_names, ["10", "9", "cat"]);
    assert_eq!(table.labels, [0, 1, 2]);
}

#[test]
fn csv_accepts_quotes_crlf_bom_spaces_blank_lines_and_other_delimiters() {
    let table = csv("\u{feff}\"a\", b ,c\r\n\"1\", 2 ,\"x, y\"\r\n\r\n3,4,z\r\n");
    assert_eq!(table.columns, ["a", "b"]);
    assert_eq!(table.features, [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(table.class_names, ["x, y", "z"]);
    let semicolons = CsvOptions {
        delimiter: b';',
        ..CsvOptions::default()
    };
    let table = csv_with("a;b\n1.5;0\n2;1\n", &semicolons);
    assert_eq!(table.features, [1.5, 2.0]);
}

#[test]
fn csv_errors_name_the_file_line_and_column() {
    let default = CsvOptions::default();
    let cases: &[(&[u8], CsvOptions, &str)] = &[
        (
            b"a,b,y\n1,2,0\n1,abc,1\n",
            default.clone(),
            "t.csv: line 3, column 2 (\"b\"): \"abc\" is not a number (every column but the label must be numeric)",
        ),
        (
            // A text feature column is an error naming it, not silently dropped.
            b"colour,size,y\nred,2,0\nblue,3,1\n",
            default.clone(),
            "t.csv: line 2, column 1 (\"colour\"): \"red\" is not a number (every column but the label must be numeric)",
        ),
        (
            b"a,b,y\n1,2,0\n1,,1\n",
            default.clone(),
            "t.csv: line 3, column 2 (\"b\"): missing value",
        ),
        (
            b"a,b,y\n1,2,0\n1,2\n",
            default.clone(),
            "t.csv: line 3: 2 fields, expected 3 (as in the header)",
        ),
        (
            b"a,b,y\n1,2,0,4\n",
            default.clone(),
            "t.csv: line 2: 4 fields, expected 3 (as in the header)",
        ),
        (
            b"a,b,y\n1,NaN,0\n",
            default.clone(),
            "t.csv: line 2, column 2 (\"b\"): \"NaN\" (NaN) is not allowed in a feature",
        ),
        (
            b"a,b,y\n1,2,0\n-inf,2,1\n",
            default.clone(),
            "t.csv: line 3, column 1 (\"a\"): \"-inf\" is infinite as an f32 (features must be finite, at most 3.4028235e38 in magnitude)",
        ),
        (
            b"a,b,y\n1e39,2,0\n",
            default.clone(),
            "t.csv: line 2, column 1 (\"a\"): \"1e39\" is infinite as an f32 (features must be finite, at most 3.4028235e38 in magnitude)",
        ),
        (
            b"a,b,y\n1,2,0\n",
            label("class"),
            "t.csv: line 1: no label column \"class\"; the columns are \"a\", \"b\", \"y\"",
        ),
        (
            b"a,b,y\n1,2,cat\n3,4,cat\n",
            default.clone(),
            "t.csv: column 3 (\"y\"): every row has the same label (\"cat\"): a classifier needs at least two classes",
        ),
        (b"", default.clone(), "t.csv: empty file: expected a header line naming the columns"),
        (b"a,b,y\n", default.clone(), "t.csv: no rows after the header line"),
        (
            b"a,b,y\n1,2,\n",
            default.clone(),
            "t.csv: line 2, column 3 (\"y\"): missing label",
        ),
        (
            b"a,b,y\n1,2,0\n1,2,256\n",
            default.clone(),
            "t.csv: line 3, column 3 (\"y\"): label 256 is above 255: at most 256 classes (labels are u8)",
        ),
        (
            b"a,b,y\n1,2,0\n1,2,-1\n",
            default.clone(),
            "t.csv: line 3, column 3 (\"y\"): label -1 is negative: integer labels are classes 0..=255",
        ),
        (
            b"a,a,y\n1,2,0\n",
            default.clone(),
            "t.csv: line 1: columns 1 and 2 are both named \"a\"",
        ),
        (b"y\n1\n2\n", default.clone(), "t.csv: line 1: only the label column \"y\": no feature columns"),
        (
            b"a,y\n1,0\n\xff,1\n",
            default.clone(),
            "t.csv: line 3: field 1 is not valid UTF-8",
        ),
    ];
    for (text, options, expected) in cases {
        assert_eq!(
            &csv_error(text, options),
            expected,
            "{}",
            String::from_utf8_lossy(text)
        );
    }
}

#[test]
fn csv_more_than_256_classes_says_the_limit() {
    let mut text = String::from("x,y\n");
    for i in 0..300 {
        text += &format!("{i},class{i:03}\n");
    }
    assert_eq!(
        csv_error(text.as_bytes(), &CsvOptions::default()),
        "t.csv: line 258, column 2 (\"y\"): label \"class256\" is a 257th distinct label: at most 256 classes (labels are u8)"
    );
    // Exactly 256 is fine.
    let text: String = text.lines().take(257).map(|l| format!("{l}\n")).collect();
    assert_eq!(csv(&text).classes, 256);
}

#[test]
fn csv_reads_from_a_file_and_names_a_missing_one() {
    let dir = temp_dir("csv-file");
    let path = dir.join("iris.csv");
    std::fs::write(&path, "a,y\n1,p\n2,q\n").unwrap();
    let table = read_csv(&path, &CsvOptions::default()).unwrap();
    assert_eq!(table.path, path);
    let missing = dir.join("nope.csv");
    let error = read_csv(&missing, &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!("{}: ", missing.display())),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------
// Table operations

#[test]
fn check_compatible_names_the_first_difference() {
    let train = csv("a,b,c,y\n1,2,3,0\n4,5,6,1\n");
    let named = |text: &str| {
        parse_csv(
            Path::new("test.csv"),
            text.as_bytes(),
            &CsvOptions::default(),
        )
        .unwrap()
    };
    train
        .check_compatible(&named("a,b,c,y\n1,2,3,1\n1,2,3,0\n"))
        .unwrap();
    let cases = [
        ("a,c,b,y\n1,2,3,1\n1,2,3,0\n", "test.csv: feature column 2 is \"c\", expected \"b\"; the columns must match the training data's (t.csv)"),
        ("a,b,y\n1,2,1\n1,2,0\n", "test.csv: 2 feature columns, expected 3: it lacks column \"c\"; the columns must match the training data's (t.csv)"),
        ("a,b,c,d,y\n1,2,3,4,1\n1,2,3,4,0\n", "test.csv: 4 feature columns, expected 3: it has an extra column \"d\"; the columns must match the training data's (t.csv)"),
    ];
    for (text, expected) in cases {
        assert_eq!(
            train
                .check_compatible(&named(text))
                .unwrap_err()
                .to_string(),
            expected
        );
    }
}

#[test]
fn align_classes_renumbers_a_test_file_by_name() {
    let train = csv("x,y\n1,ant\n2,bee\n3,cat\n");
    // Sorted on its own, this file's "cat" would be class 1; aligned, it is class 2.
    let test = parse_csv(
        Path::new("test.csv"),
        b"x,y\n1,cat\n2,ant\n",
        &CsvOptions::default(),
    )
    .unwrap();
    assert_eq!(test.labels, [1, 0]);
    let aligned = train.align_classes(test).unwrap();
    assert_eq!(aligned.labels, [2, 0]);
    assert_eq!(aligned.classes, 3);
    assert_eq!(aligned.class_names, ["ant", "bee", "cat"]);

    let unknown = parse_csv(
        Path::new("test.csv"),
        b"x,y\n1,cat\n2,dog\n",
        &CsvOptions::default(),
    )
    .unwrap();
    assert_eq!(
        train.align_classes(unknown).unwrap_err().to_string(),
        "test.csv: class \"dog\" does not occur in the training data (t.csv)"
    );
    let integers = parse_csv(
        Path::new("test.csv"),
        b"x,y\n1,0\n2,1\n",
        &CsvOptions::default(),
    )
    .unwrap();
    assert_eq!(
        train
            .align_classes(integers.clone())
            .unwrap_err()
            .to_string(),
        "test.csv: integer labels, but the training data (t.csv) has string labels"
    );
    let int_train = csv("x,y\n1,0\n2,3\n");
    assert_eq!(int_train.align_classes(integers).unwrap().classes, 4);
    let beyond = parse_csv(
        Path::new("test.csv"),
        b"x,y\n1,0\n2,4\n",
        &CsvOptions::default(),
    )
    .unwrap();
    assert_eq!(
        int_train.align_classes(beyond).unwrap_err().to_string(),
        "test.csv: class 4 does not occur in the training data (t.csv)"
    );
}

fn numbered_table(rows: usize, classes: u8) -> Table {
    let mut text = String::from("i,y\n");
    for i in 0..rows {
        text += &format!("{i},{}\n", (i % usize::from(classes)));
    }
    csv(&text)
}

#[test]
fn split_is_seeded_stratified_and_keeps_row_order() {
    let table = numbered_table(100, 4);
    let (train, test) = table.split(0.2, 7).unwrap();
    assert_eq!((train.rows(), test.rows()), (80, 20));
    for class in 0..4 {
        assert_eq!(
            test.labels.iter().filter(|&&l| l == class).count(),
            5,
            "class {class}"
        );
    }
    let ids = |t: &Table| t.features.clone();
    assert!(
        ids(&train).windows(2).all(|w| w[0] < w[1]),
        "training rows out of order"
    );
    assert!(
        ids(&test).windows(2).all(|w| w[0] < w[1]),
        "test rows out of order"
    );
    let mut all: Vec<f32> = ids(&train).into_iter().chain(ids(&test)).collect();
    all.sort_by(f32::total_cmp);
    assert_eq!(all, (0..100).map(|i| i as f32).collect::<Vec<_>>());
    // Every row keeps its label.
    for (t, part) in [(&train, "train"), (&test, "test")] {
        for r in 0..t.rows() {
            assert_eq!(
                usize::from(t.labels[r]),
                t.row(r)[0] as usize % 4,
                "{part} row {r}"
            );
        }
    }
    assert_eq!(table.split(0.2, 7).unwrap(), (train.clone(), test.clone()));
    assert_ne!(table.split(0.2, 8).unwrap().1.features, test.features);
}

#[test]
fn split_refuses_fractions_that_leave_a_part_empty() {
    let table = numbered_table(4, 2);
    for fraction in [0.0, 1.0, -0.5, f32::NAN] {
        let error = table.split(fraction, 1).unwrap_err().to_string();
        assert_eq!(
            error,
            format!("invalid configuration: test split must be in (0, 1), got {fraction}")
        );
    }
    assert_eq!(
        table.split(0.1, 1).unwrap_err().to_string(),
        "invalid configuration: a test split of 0.1 of 4 rows leaves 0 test rows and 4 training rows"
    );
}

// ---------------------------------------------------------------------------------------
// CSV pixels against the IDX reader

#[test]
fn csv_pixels_match_the_idx_reader() {
    let (count, side) = (6, 28);
    let mut rng = Rng::new(784);
    let pixels: Vec<u8> = (0..count * side * side)
        .map(|_| rng.below(256) as u8)
        .collect();
    let labels: Vec<u8> = (0..count).map(|i| (i % 3) as u8 * 3).collect();
    let dir = temp_dir("pixels");
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
            .chain(dataset.image(i).iter().map(u8::to_string))
            .collect();
        writeln!(file, "{}", row.join(",")).unwrap();
    }
    drop(file);
    let table = read_csv(&csv_path, &label("label")).unwrap();

    assert_eq!(
        (table.rows(), table.width()),
        (dataset.len(), dataset.pixels())
    );
    assert_eq!(table.labels, dataset.labels);
    assert_eq!(table.classes, dataset.classes);
    let as_f32: Vec<f32> = dataset.images.iter().map(|&p| f32::from(p)).collect();
    assert_eq!(table.features, as_f32);
    // The NumPy reader agrees too (uint8 images of shape (n, 28, 28), flattened row by row).
    let x = npy_bytes("|u1", &[count, side, side], false, &pixels);
    let y = npy_bytes("|u1", &[count], false, &labels);
    let from_npy = parse_npy_pair((Path::new("X.npy"), &x), (Path::new("y.npy"), &y)).unwrap();
    assert_eq!(from_npy.features, as_f32);
    assert_eq!(from_npy.labels, dataset.labels);
}

// ---------------------------------------------------------------------------------------
// NumPy

/// A `.npy` file as NumPy writes it (format 1.0, header padded to 64 bytes with `\n` last).
fn npy_bytes(descr: &str, shape: &[usize], fortran: bool, data: &[u8]) -> Vec<u8> {
    let shape_text = match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let order = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn le<T: Copy, const N: usize>(values: &[T], to_bytes: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| to_bytes(v)).collect()
}

fn pair(x: &[u8], y: &[u8]) -> trainer::Result<Table> {
    parse_npy_pair((Path::new("X.npy"), x), (Path::new("y.npy"), y))
}

fn npz(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        writer.start_file(format!("{name}.npy"), options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

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
    let dir = temp_dir("numpy-files");
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
// The fuzz corpus

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tinymlp-readers-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir(target))
        .expect("the corpus folder exists")
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("readable corpus file");
            (path, bytes)
        })
        .collect()
}

/// The seeds: valid inputs of each kind, and damaged copies.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut seeds = Vec::new();
    let csv_texts: [(&str, u8, &str); 5] = [
        (
            "strings",
            0,
            "a,b,species\n1,2,virginica\n3.5,-4e-3,setosa\n0,0,versicolor\n7,8,setosa\n",
        ),
        ("integers", 1, "label,x,z\n3,0.5,1\n0,1,2\n2,1.5,3\n1,1,1\n"),
        (
            "quoted",
            0,
            "\u{feff}\"a\", b ,c\r\n\"1\", 2 ,\"x, y\"\r\n\r\n3,4,z\r\n",
        ),
        ("semicolons", 6, "x;y\n1;p\n2;q\n3;p\n"),
        ("errors", 0, "a,b,y\n1,,0\n1,abc,1\nNaN,inf,2\n1,2\n"),
    ];
    for (name, mode, text) in csv_texts {
        let bytes = [&[mode][..], text.as_bytes()].concat();
        seeds.push(("csv", format!("seed-{name}"), bytes.clone()));
        seeds.push((
            "csv",
            format!("seed-{name}-truncated"),
            bytes[..bytes.len() * 2 / 3].to_vec(),
        ));
    }
    let x = npy_bytes(
        "<f4",
        &[4, 2],
        false,
        &le(&[1f32, 2., 3., 4., 5., 6., 7., 8.], f32::to_le_bytes),
    );
    let x_fortran = npy_bytes(
        ">f8",
        &[4, 2],
        true,
        &le(&[1f64, 2., 3., 4., 5., 6., 7., 8.], f64::to_be_bytes),
    );
    let x_images = npy_bytes("|u1", &[4, 2, 2], false, &(0..16).collect::<Vec<u8>>());
    let y = npy_bytes("<i8", &[4], false, &le(&[0i64, 1, 0, 1], i64::to_le_bytes));
    let y_strings = npy_bytes(
        "<U3",
        &[4],
        false,
        &le(
            &[97u32, 0, 0, 98, 0, 0, 97, 0, 0, 99, 99, 0],
            u32::to_le_bytes,
        ),
    );
    let arrays = [
        ("f4", &x, &y),
        ("fortran", &x_fortran, &y_strings),
        ("images", &x_images, &y),
    ];
    for (name, x, y) in arrays {
        for (method, suffix) in [
            (zip::CompressionMethod::Stored, "stored"),
            (zip::CompressionMethod::Deflated, "deflated"),
        ] {
            let archive = [&[0u8][..], &npz(&[("X", x), ("y", y)], method)].concat();
            seeds.push(("npy", format!("seed-npz-{name}-{suffix}"), archive.clone()));
            let mut flipped = archive.clone();
            flipped[archive.len() / 3] ^= 0x20;
            seeds.push(("npy", format!("seed-npz-{name}-{suffix}-flipped"), flipped));
        }
        let split = (x.len() as u16).to_le_bytes();
        let pair = [&[1u8][..], &split, x, y].concat();
        seeds.push(("npy", format!("seed-pair-{name}"), pair.clone()));
        seeds.push((
            "npy",
            format!("seed-pair-{name}-truncated"),
            pair[..pair.len() - 3].to_vec(),
        ));
    }
    seeds
}

/// Writes the seeds into the corpus: `cargo test -p trainer --test readers -- --ignored`.
#[test]
#[ignore = "writes files; run by hand to regenerate the seeds"]
fn write_seeds() {
    for (target, name, bytes) in seeds() {
        std::fs::create_dir_all(corpus_dir(target)).unwrap();
        std::fs::write(corpus_dir(target).join(name), bytes).unwrap();
    }
}

#[test]
fn seeds_are_in_the_corpus() {
    for (target, name, bytes) in seeds() {
        let path = corpus_dir(target).join(&name);
        assert_eq!(
            std::fs::read(&path).unwrap_or_default(),
            bytes,
            "{} is stale: run write_seeds",
            path.display()
        );
    }
}

#[test]
fn every_corpus_input_runs_without_panicking() {
    for (target, body) in [
        ("csv", fuzz::fuzz_csv as fn(&[u8])),
        ("npy", fuzz::fuzz_npy),
    ] {
        let corpus = corpus(target);
        assert!(
            corpus.len() >= 10,
            "only {} {target} corpus files",
            corpus.len()
        );
        for (path, bytes) in &corpus {
            let outcome = std::panic::catch_unwind(|| body(bytes));
            assert!(outcome.is_ok(), "{} panicked", path.display());
        }
    }
}

#[test]
fn the_valid_seeds_are_read() {
    // A corpus the readers refuse entirely fuzzes nothing past the first check.
    for (target, name, bytes) in seeds() {
        if name.contains("truncated") || name.contains("flipped") || name.contains("errors") {
            continue;
        }
        let read = match target {
            "csv" => fuzz::read_csv_input(&bytes),
            _ => fuzz::read_npy_input(&bytes),
        };
        let ok = read
            .expect("a mode byte")
            .map(|t| fuzz::check_table(&t, bytes[0]));
        ok.unwrap_or_else(|e| panic!("{target} seed {name}: {e}"));
    }
}
