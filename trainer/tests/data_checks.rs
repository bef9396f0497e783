//! Bad data is a clear error: truncated files, wrong magic numbers, mismatched counts,
//! labels above 9, wrong checksums; gzip files read like raw ones.

mod common;

use std::io::Write;

use trainer::data::idx::{self, encode_images, encode_labels, parse_images, parse_labels};
use trainer::data::load_mnist;
use trainer::Error;

fn bad_data_reason(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::BadData { reason, .. }) => reason,
        other => panic!("expected a bad-data error, got {other:?}"),
    }
}

#[test]
fn image_file_checks() {
    let path = std::path::Path::new("images");
    let good = encode_images(2, 3, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    let (count, rows, cols, pixels) = parse_images(path, good.clone()).unwrap();
    assert_eq!((count, rows, cols, pixels.len()), (2, 2, 3, 12));

    let truncated = good[..good.len() - 1].to_vec();
    assert!(bad_data_reason(parse_images(path, truncated)).contains("truncated"));
    assert!(bad_data_reason(parse_images(path, good[..10].to_vec())).contains("truncated header"));
    let mut magic = good.clone();
    magic[3] = 0x01;
    assert!(bad_data_reason(parse_images(path, magic)).contains("wrong magic"));
    let mut count = good.clone();
    count[7] = 3; // claims 3 images, holds 2
    assert!(bad_data_reason(parse_images(path, count)).contains("expected"));
    let mut trailing = good;
    trailing.push(0);
    assert!(bad_data_reason(parse_images(path, trailing)).contains("trailing"));
}

#[test]
fn label_file_checks() {
    let path = std::path::Path::new("labels");
    assert_eq!(
        parse_labels(path, encode_labels(&[0, 9, 3])).unwrap(),
        [0, 9, 3]
    );
    // Labels are checked against the class count when images and labels become a dataset.
    let images = (path.to_path_buf(), encode_images(1, 1, &[7, 8, 9]));
    let labels = (path.to_path_buf(), encode_labels(&[0, 10, 3]));
    let reason = bad_data_reason(idx::dataset(images.clone(), labels.clone(), Some(10)));
    assert!(reason.contains("label 10 of sample 1"), "{reason}");
    assert_eq!(idx::dataset(images, labels, None).unwrap().classes, 11);
    let good = encode_labels(&[1, 2]);
    assert!(bad_data_reason(parse_labels(path, good[..9].to_vec())).contains("truncated"));
    let mut magic = good;
    magic[3] = 3;
    assert!(bad_data_reason(parse_labels(path, magic)).contains("wrong magic"));
}

#[test]
fn folder_loading_gzip_counts_and_checksums() {
    let dir = common::temp_dir("data_checks");
    let train = common::synthetic(30, 10, 1);
    let test = common::synthetic(7, 10, 2);
    common::write_idx(&dir, &train, &test);
    // One file gzipped instead of raw.
    let raw = dir.join("t10k-images-idx3-ubyte");
    let bytes = std::fs::read(&raw).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte.gz"), gz.finish().unwrap()).unwrap();
    std::fs::remove_file(&raw).unwrap();

    let mnist = load_mnist(&dir, false).unwrap();
    assert_eq!(mnist.train, train);
    assert_eq!(mnist.test, test);
    assert_eq!(mnist.hashes.len(), 4);

    // These are not the real MNIST files: verification names the file and says how much
    // of it there is.
    let reason = bad_data_reason(load_mnist(&dir, true).map(|_| ()));
    assert_eq!(reason, "truncated: 1936 of 47040016 bytes");

    // A file of the right size but other bytes: both digests.
    let wrong = dir.join("wrong");
    std::fs::create_dir_all(&wrong).unwrap();
    let file = &trainer::data::MNIST_FILES[1];
    let bytes = vec![0u8; file.size as usize];
    match trainer::data::mnist::verify(&wrong.join(file.name), file, &bytes) {
        Err(Error::Checksum { path, expected, .. }) => {
            assert!(path.ends_with("train-labels-idx1-ubyte"));
            assert_eq!(expected, file.sha256);
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }

    // Labels for a different number of images.
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        encode_labels(&train.labels[..29]),
    )
    .unwrap();
    let reason = bad_data_reason(load_mnist(&dir, false).map(|_| ()));
    assert!(reason.contains("29 labels for 30 images"), "{reason}");

    // A missing file.
    std::fs::remove_file(dir.join("train-labels-idx1-ubyte")).unwrap();
    assert!(bad_data_reason(load_mnist(&dir, false).map(|_| ())).contains("not found"));
}

#[test]
fn validation_split_takes_the_last_samples() {
    let data = common::synthetic(10, 4, 3);
    let (train, validation) = data.clone().split_validation(0.25).unwrap();
    // Keras: split_at = int(10 * 0.75) = 7.
    assert_eq!(train.len(), 7);
    assert_eq!(validation.labels, data.labels[7..]);
    assert_eq!(validation.image(0), data.image(7));
    assert!(data.split_validation(1.0).is_err());
}
