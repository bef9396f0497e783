//! The IDX fuzz corpus (`trainer/fuzz/corpus/idx/`) replayed through the fuzz target's own
//! body (`trainer-fuzz-case`) with the memory it holds at its peak counted: bounded by the
//! bytes the files hold (after decompression), whatever sizes their headers claim; and a
//! gzip file is never inflated past the size its header claims.
//!
//! One test function: the allocation counter is global to this test binary, so the inputs
//! run one after another.

mod peak_memory;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use peak_memory::peak_of;
use trainer::data::idx;
use trainer_fuzz_case as fuzz;

/// The most the fuzz body may hold per byte the files hold: the stored and inflated
/// copies of each file (the body reads them twice), an `i8` element as an `f32` feature
/// (4), the dataset's copies for its checks; a constant factor, never a size a header
/// merely claims. The fixed allowance holds a gzip decoder's state (its 32 KiB window,
/// tables and input buffer: 75 KB measured) and the messages.
const BYTES_PER_FILE_BYTE: usize = 24;
const FIXED_ALLOWANCE: usize = 256 << 10;

/// The bytes an input's two files hold once decompressed: for a gzip file that turns out
/// damaged partway, the bytes it inflated to before the damage (the reader holds them
/// until it meets the damage), at least its stored size.
fn held_bytes(input: &[u8]) -> usize {
    let Some(files) = fuzz::split_idx_input(input) else {
        return 0;
    };
    [files.samples, files.labels]
        .into_iter()
        .map(|(path, bytes)| {
            idx::decompress_if_gz(&path, bytes.to_vec())
                .map_or_else(|_| inflated_before_damage(bytes), |b| b.len())
                .max(bytes.len())
        })
        .sum()
}

/// How many bytes a gzip stream inflates to before it ends or an error stops it.
fn inflated_before_damage(gzip: &[u8]) -> usize {
    let mut decoder = flate2::read::GzDecoder::new(gzip);
    let mut buffer = [0u8; 4096];
    let mut total = 0;
    while let Ok(read @ 1..) = decoder.read(&mut buffer) {
        total += read;
    }
    total
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn the_idx_corpus_replays_in_memory_bounded_by_what_the_files_hold() {
    check_a_gzip_bomb_is_inflated_only_as_far_as_its_header_claims();
    check_claimed_dimensions_are_not_allocated();
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/idx");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("the corpus folder exists")
        .map(|entry| entry.expect("readable entry").path())
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "only {} IDX corpus files", paths.len());
    let mut worst = (0.0f64, PathBuf::new());
    for path in &paths {
        let input = std::fs::read(path).expect("readable corpus file");
        let held = input.len() + held_bytes(&input);
        let peak = peak_of(|| fuzz::fuzz_idx(&input));
        assert!(
            peak <= BYTES_PER_FILE_BYTE * held + FIXED_ALLOWANCE,
            "{}: {peak} bytes at the peak for {held} bytes held",
            path.display()
        );
        let ratio = peak.saturating_sub(FIXED_ALLOWANCE) as f64 / held.max(1) as f64;
        if ratio > worst.0 {
            worst = (ratio, path.clone());
        }
    }
    eprintln!(
        "IDX: {} inputs, worst peak past the fixed allowance {:.1} bytes per byte held ({})",
        paths.len(),
        worst.0,
        worst.1.display()
    );
}

/// A gzip label file that claims 10 labels but inflates to 64 MiB of zeros (64 KiB
/// stored) is inflated to 11 bytes, refused as having trailing bytes, and costs far less
/// than what it inflates to: before the reader stopped at the claim, it inflated it all.
fn check_a_gzip_bomb_is_inflated_only_as_far_as_its_header_claims() {
    let mut inflated = idx::encode_labels(&[0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
    inflated.resize(64 << 20, 0);
    let bomb = gzip(&inflated);
    drop(inflated);
    assert!(bomb.len() < 1 << 20, "{} bytes stored", bomb.len());
    let path = Path::new("labels-idx1-ubyte.gz");
    let peak = peak_of(|| {
        let bytes = idx::decompress_if_gz(path, bomb.clone()).expect("valid gzip");
        assert_eq!(bytes.len(), 8 + 10 + 1);
        let error = idx::parse_labels(path, bytes).unwrap_err().to_string();
        assert_eq!(
            error,
            "labels-idx1-ubyte.gz: 19 bytes, expected 18 for 10 labels (trailing bytes)"
        );
    });
    assert!(
        peak < 4 * bomb.len() + (1 << 20),
        "{peak} bytes at the peak"
    );
}

/// Sample files that claim 2^32 - 1 samples of 4096 `f32` values (64 TiB) but hold a few,
/// stored and gzipped, are refused without the claimed size ever being allocated.
fn check_claimed_dimensions_are_not_allocated() {
    let mut huge = vec![0, 0, 0x0D, 2];
    huge.extend(u32::MAX.to_be_bytes());
    huge.extend(4096u32.to_be_bytes());
    huge.extend([0; 64]);
    let labels = idx::encode_labels(&[0, 1]);
    for (name, samples) in [
        ("samples-idx2", huge.clone()),
        ("samples-idx2.gz", gzip(&huge)),
    ] {
        let peak = peak_of(|| {
            let bytes = idx::decompress_if_gz(Path::new(name), samples).expect("valid gzip");
            let error = idx::samples_dataset(
                (PathBuf::from(name), bytes),
                (PathBuf::from("labels"), labels.clone()),
            )
            .unwrap_err();
            assert!(error.to_string().contains("(truncated)"), "{error}");
        });
        assert!(peak < 1 << 20, "{name}: {peak} bytes allocated");
    }
}
