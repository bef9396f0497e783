//! The readers' fuzz corpus replayed on stable Rust through the fuzz targets' own bodies
//! (`trainer-fuzz-case`): no input panics, the seeds are in the corpus, and the valid seeds
//! are read.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use trainer_fuzz_case as fuzz;

use common::numpy::{le, npy_bytes, npz};

// ---------------------------------------------------------------------------------------
// The fuzz corpus

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
    seeds.extend(idx_seeds());
    seeds
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// An IDX fuzz input (see `trainer_fuzz_case::split_idx_input`): the sample and label files
/// after a mode byte and the sample file's length.
fn idx_input(mode: u8, samples: &[u8], labels: &[u8]) -> Vec<u8> {
    let split = (samples.len() as u16).to_le_bytes();
    [&[mode][..], &split, samples, labels].concat()
}

/// Sample files of each element type, MNIST-like images, gzipped files, and damaged ones:
/// truncated, a wrong magic number, dimensions claiming far more than the file holds, a
/// NaN feature.
fn idx_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let labels = trainer::data::idx::encode_labels(&[0, 1, 2, 1]);
    let be = |values: &[f64], encode: fn(f64) -> Vec<u8>| -> Vec<u8> {
        values.iter().flat_map(|&v| encode(v)).collect()
    };
    let values = [1.0, -2.0, 3.0, -4.0, 5.0, 6.0, -7.0, 8.0];
    let pixels: Vec<u8> = (0..16).map(|p| p * 16).collect();
    let files = [
        ("u8-images", common::idx_file(0x08, &[4, 2, 2], &pixels)),
        ("u8-rows", common::idx_file(0x08, &[4, 4], &pixels)),
        (
            "i8",
            common::idx_file(0x09, &[4, 2], &be(&values, |v| vec![v as i8 as u8])),
        ),
        (
            "i16",
            common::idx_file(
                0x0B,
                &[4, 2],
                &be(&values, |v| (v as i16 * 300).to_be_bytes().to_vec()),
            ),
        ),
        (
            "i32",
            common::idx_file(
                0x0C,
                &[4, 1, 2],
                &be(&values, |v| (v as i32 * 70_000).to_be_bytes().to_vec()),
            ),
        ),
        (
            "f32",
            common::idx_file(
                0x0D,
                &[4, 2],
                &be(&values, |v| (v as f32 * 0.25).to_be_bytes().to_vec()),
            ),
        ),
        (
            "f64",
            common::idx_file(
                0x0E,
                &[4, 2, 1],
                &be(&values, |v| (v * 1e-3).to_be_bytes().to_vec()),
            ),
        ),
    ];
    let mut seeds = Vec::new();
    for (name, samples) in &files {
        let input = idx_input(0, samples, &labels);
        seeds.push(("idx", format!("seed-{name}"), input.clone()));
        seeds.push((
            "idx",
            format!("seed-{name}-truncated"),
            input[..input.len() - 3].to_vec(),
        ));
    }
    let images = &files[0].1;
    seeds.push((
        "idx",
        "seed-u8-images-mnist-reader".into(),
        idx_input(4, images, &labels),
    ));
    seeds.push((
        "idx",
        "seed-u8-images-gzip".into(),
        idx_input(3, &gzip(images), &gzip(&labels)),
    ));
    let f32_gzip = gzip(&files[5].1);
    seeds.push((
        "idx",
        "seed-f32-gzip".into(),
        idx_input(1, &f32_gzip, &labels),
    ));
    seeds.push((
        "idx",
        "seed-f32-gzip-truncated".into(),
        idx_input(1, &f32_gzip[..f32_gzip.len() - 5], &labels),
    ));
    let mut wrong_magic = images.clone();
    wrong_magic[2] = 0x0A;
    seeds.push((
        "idx",
        "seed-errors-wrong-magic".into(),
        idx_input(0, &wrong_magic, &labels),
    ));
    let mut wrong_label_magic = labels.clone();
    wrong_label_magic[3] = 3;
    seeds.push((
        "idx",
        "seed-errors-wrong-label-magic".into(),
        idx_input(0, images, &wrong_label_magic),
    ));
    let huge = common::idx_file(0x0D, &[u32::MAX, 4096], &[0; 16]);
    seeds.push((
        "idx",
        "seed-errors-huge-dims".into(),
        idx_input(0, &huge, &labels),
    ));
    seeds.push((
        "idx",
        "seed-errors-huge-dims-gzip".into(),
        idx_input(1, &gzip(&huge), &labels),
    ));
    let huge_labels = {
        let mut bytes = labels.clone();
        bytes[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        bytes
    };
    seeds.push((
        "idx",
        "seed-errors-huge-label-count".into(),
        idx_input(2, images, &gzip(&huge_labels)),
    ));
    let nan = common::idx_file(
        0x0E,
        &[4, 2],
        &be(&[1.0, f64::NAN, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], |v| {
            v.to_be_bytes().to_vec()
        }),
    );
    seeds.push(("idx", "seed-errors-nan".into(), idx_input(0, &nan, &labels)));
    seeds
}

/// Writes the seeds into the corpus: `cargo test -p trainer --test reader_corpus -- --ignored`.
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
        ("idx", fuzz::fuzz_idx),
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
        if target == "idx" {
            if let Err(e) = fuzz::read_idx_input(&bytes).expect("a mode byte and a split") {
                panic!("idx seed {name}: {e}");
            }
            fuzz::fuzz_idx(&bytes);
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
