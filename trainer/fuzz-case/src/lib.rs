//! The trainer readers' fuzz bodies, one crate that the fuzz targets (`trainer/fuzz/`) and
//! the corpus replay test (`trainer/tests/reader_corpus.rs`, stable Rust) both call. A
//! reader may refuse any input, but must never panic, and what it accepts must hold its
//! promises (checked by `check_table`).

use std::path::Path;

use trainer::data::{csv, npy, Table, MAX_CLASSES};

/// CSV bytes after one mode byte: bits 0-1 pick the label option (last column, `label`,
/// `y`, a column that is unlikely to exist), bit 2 the delimiter (`,` or `;`).
pub fn read_csv_input(data: &[u8]) -> Option<trainer::Result<Table>> {
    let (&mode, text) = data.split_first()?;
    let options = csv::CsvOptions {
        label: match mode & 3 {
            0 => None,
            1 => Some("label".to_owned()),
            2 => Some("y".to_owned()),
            _ => Some("no such column".to_owned()),
        },
        delimiter: if mode & 4 == 0 { b',' } else { b';' },
    };
    Some(csv::parse_csv(Path::new("fuzz.csv"), text, &options))
}

/// NumPy bytes after one mode byte: even, an `.npz` archive; odd, an `.npy` pair whose
/// features file is the first `split` bytes (the next two bytes, little-endian) and whose
/// labels file is the rest.
pub fn read_npy_input(data: &[u8]) -> Option<trainer::Result<Table>> {
    let (&mode, rest) = data.split_first()?;
    if mode & 1 == 0 {
        return Some(npy::parse_npz(
            Path::new("fuzz.npz"),
            rest,
            &npy::NpzOptions::default(),
        ));
    }
    let (split, files) = rest.split_first_chunk::<2>()?;
    let split = usize::from(u16::from_le_bytes(*split)).min(files.len());
    let (x, y) = files.split_at(split);
    Some(npy::parse_npy_pair(
        (Path::new("X.npy"), x),
        (Path::new("y.npy"), y),
    ))
}

/// The CSV fuzz target's body.
pub fn fuzz_csv(data: &[u8]) {
    if let Some(Ok(table)) = read_csv_input(data) {
        check_table(&table, data[0]);
    }
}

/// The NumPy fuzz target's body.
pub fn fuzz_npy(data: &[u8]) {
    if let Some(Ok(table)) = read_npy_input(data) {
        check_table(&table, data[0]);
    }
}

/// What every table a reader returns promises, and the table's own operations on it.
pub fn check_table(table: &Table, seed: u8) {
    assert!(table.width() > 0, "no feature columns");
    assert_eq!(table.features.len(), table.rows() * table.width());
    assert!(
        table.features.iter().all(|f| f.is_finite()),
        "a non-finite feature"
    );
    assert!(
        (2..=MAX_CLASSES).contains(&table.classes),
        "{} classes",
        table.classes
    );
    assert!(table.labels.iter().all(|&l| usize::from(l) < table.classes));
    assert!(table.class_names.is_empty() || table.class_names.len() == table.classes);
    assert!(
        table.class_names.windows(2).all(|w| w[0] < w[1]),
        "class names not sorted"
    );
    let distinct = {
        let mut seen = [false; MAX_CLASSES];
        table
            .labels
            .iter()
            .for_each(|&l| seen[usize::from(l)] = true);
        seen.iter().filter(|&&s| s).count()
    };
    assert!(distinct >= 2, "fewer than two classes present");
    table
        .check_compatible(table)
        .expect("a table is compatible with itself");
    let aligned = table
        .align_classes(table.clone())
        .expect("aligns with itself");
    assert_eq!(&aligned, table);
    if let Ok((train, test)) = table.split(0.25, u64::from(seed)) {
        assert_eq!(train.rows() + test.rows(), table.rows());
        assert!(train.rows() > 0 && test.rows() > 0);
        assert_eq!(train.features.len(), train.rows() * table.width());
    }
}

mod import;
pub use import::{check_imported, fuzz_onnx, fuzz_safetensors};

mod idx;
pub use idx::{check_idx_dataset, fuzz_idx, read_idx_input, split_idx_input, IdxInput};
