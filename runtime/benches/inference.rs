//! Single-sample latency of a 784-512-10 MNIST model, int8 and f32.
//!
//! Uses the committed trained models (`models/mnist-int8.tmlp`, `models/mnist-f32.tmlp`)
//! when they exist; otherwise synthesizes a model of the same shape with seeded random
//! weights (same work per sample: the kernels skip zero pixels either way, and the number of
//! zero pixels depends on the input, not the weights). Inputs are the MNIST test images from
//! `data/mnist/t10k-images-idx3-ubyte` when present (81 % zero pixels), else seeded
//! MNIST-like images with the same sparsity.
//!
//! `cargo bench -p tinymlp --bench inference`. The side-by-side comparison with PyTorch and
//! onnxruntime (batched and single-sample, one run) is `bench/inference.py`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use tinymlp::{F32Scratch, InputSpec, Int8Scratch, Model};

const PIXELS: usize = 784;
/// Images cycled through, so branch predictors cannot learn one input.
const IMAGES: usize = 256;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn mnist_input() -> InputSpec {
    InputSpec {
        width: 28,
        height: 28,
        channels: 1,
        scale: 1.0 / 255.0,
        zero_point: 0,
    }
}

/// MNIST test images, or seeded images with MNIST's sparsity: a stroke-like blob of
/// non-zero pixels covering about 19 % of the frame.
fn images() -> (Vec<Vec<u8>>, &'static str) {
    let path = workspace().join("data/mnist/t10k-images-idx3-ubyte");
    if let Ok(bytes) = std::fs::read(&path) {
        if let Some(data) = bytes.get(16..16 + IMAGES * PIXELS) {
            return (
                data.chunks_exact(PIXELS).map(<[u8]>::to_vec).collect(),
                "MNIST t10k",
            );
        }
    }
    let mut rng = common::Random::new(2024);
    let images = (0..IMAGES)
        .map(|_| {
            let mut image = vec![0u8; PIXELS];
            for pixel in image.iter_mut().skip(28 * 4).take(28 * 20) {
                if rng.next_u64() % 100 < 27 {
                    *pixel = (rng.next_u64() % 256) as u8;
                }
            }
            image
        })
        .collect();
    (images, "synthetic MNIST-like")
}

/// The committed model at `models/<name>`, or a synthesized 784-512-10 one.
fn model_blob(name: &str, images: &[Vec<u8>]) -> (Vec<u8>, &'static str) {
    if let Ok(blob) = std::fs::read(workspace().join("models").join(name)) {
        return (blob, "trained");
    }
    let float = common::random_float_model(mnist_input(), &[512, 10], 42);
    let blob = if name.contains("int8") {
        float.quantize(&images[..32]).model.encode()
    } else {
        float.to_f32().encode()
    };
    (blob, "synthesized random-weight")
}

fn bench_inference(c: &mut Criterion) {
    let (images, source) = images();
    let sparsity = images.iter().flatten().filter(|&&p| p == 0).count() as f64
        / (images.len() * PIXELS) as f64;

    let (int8_blob, int8_source) = model_blob("mnist-int8.tmlp", &images);
    let int8 = Model::from_bytes(&int8_blob).expect("int8 model loads");
    let (f32_blob, f32_source) = model_blob("mnist-f32.tmlp", &images);
    let f32 = Model::from_bytes(&f32_blob).expect("f32 model loads");
    eprintln!(
        "inputs: {source} ({:.0} % zero pixels); int8 model: {int8_source}; f32 model: {f32_source}",
        sparsity * 100.0
    );

    let mut group = c.benchmark_group("mnist_784_512_10");
    let mut int8_scratch = Int8Scratch::<512, 10>::new();
    let mut next = 0;
    group.bench_function("int8", |b| {
        b.iter(|| {
            next = (next + 1) % images.len();
            let prediction = int8
                .predict(black_box(&images[next]), &mut int8_scratch)
                .expect("predicts");
            black_box(prediction.class)
        })
    });
    let mut f32_scratch = F32Scratch::<512, 10>::new();
    group.bench_function("f32", |b| {
        b.iter(|| {
            next = (next + 1) % images.len();
            let prediction = f32
                .predict(black_box(&images[next]), &mut f32_scratch)
                .expect("predicts");
            black_box(prediction.class)
        })
    });
    group.finish();

    #[cfg(target_arch = "x86_64")]
    bench_x86_levels(c, &int8, &images);
}

/// The int8 model's first layer (784 -> 512) and its requantization at each x86-64 level:
/// what a CPU without AVX2 gets (SSE2) against what the model above ran (the detected one).
#[cfg(target_arch = "x86_64")]
fn bench_x86_levels(c: &mut Criterion, model: &Model<'_>, images: &[Vec<u8>]) {
    use tinymlp::kernels::x86::{dense_int8_at, requantize_at, Level};
    use tinymlp::Params;

    let Params::Int8(first) = &model.layers()[0].params else {
        return;
    };
    let Some(requantization) = first.requantization else {
        return;
    };
    let zero_point = requantization.output.zero_point;
    let mut group = c.benchmark_group("first_layer_784_512");
    let mut sums = [0i32; 512];
    let mut out = [0i8; 512];
    for level in [Level::Sse2, Level::Avx2] {
        if !level.is_available() {
            eprintln!("{level:?}: not on this CPU, skipped");
            continue;
        }
        let mut next = 0;
        group.bench_function(format!("{level:?}/dense"), |b| {
            b.iter(|| {
                next = (next + 1) % images.len();
                let pixels = black_box(&images[next]).iter().map(|&p| i16::from(p));
                dense_int8_at(level, pixels, first.weights, first.bias, &mut sums);
                black_box(sums[0])
            })
        });
        group.bench_function(format!("{level:?}/requantize"), |b| {
            b.iter(|| {
                requantize_at(
                    level,
                    black_box(&sums),
                    requantization.multipliers,
                    requantization.shifts,
                    zero_point,
                    zero_point,
                    &mut out,
                );
                black_box(out[0])
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_inference);
criterion_main!(benches);
