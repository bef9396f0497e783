//! The CSV reader and the table it fills: what it reads, every error word for word, the
//! table's operations (column checks, class alignment, the seeded split), and CSV pixels
//! against the IDX reader. NumPy: `numpy_reader.rs`; the fuzz corpus: `reader_corpus.rs`.

mod common;

use std::path::Path;

use trainer::data::csv::{parse_csv, CsvOptions};
use trainer::data::{read_csv, Table};

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
    let dir = common::temp_dir("csv-file");
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
