//! The native runtime's side of the web tests and benchmark.
//!
//! ```text
//! tinymlp-web-native digest BLOB IMAGES [LABELS]   JSON: classes, OutputDigest, probability CRC
//! tinymlp-web-native digest-features BLOB RECORDS  the same for a feature model's inputs
//! tinymlp-web-native load BLOB                     the load error's Display text, or "ok"
//! tinymlp-web-native bench BLOB IMAGES COUNT ROUNDS [LEVEL]  JSON: nanoseconds per inference
//!                                                  (LEVEL: sse2, avx2 or vnni caps the x86 kernels)
//! tinymlp-web-native random-blob OUT (int8|f32) SEED  a random-weights 784-512-10 model
//! tinymlp-web-native corpus DIR                    JSON: the fuzz corpus's blobs and answers
//! ```
//!
//! IMAGES and LABELS are MNIST IDX files; RECORDS is a feature model's inputs as
//! `datasets/features_bin.py` writes them (`[label u8][f32 LE x features]`, as the firmware's
//! `tabular` build reads them). The web tests run the same inputs through the wasm module and
//! require the same classes and the same digests, bit for bit.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use rand_xoshiro::rand_core::{Rng as _, SeedableRng as _};
use rand_xoshiro::Xoshiro256PlusPlus;
use tinymlp::fixed_point::quantize_multiplier;
use tinymlp::{
    Activation, DenseLayer, F32Params, F32Scratch, Header, Input, InputSpec, Int8BatchScratch,
    Int8Params, Int8Scratch, Model, ModelDef, OutputDigest, ParamKind, Params, Prediction,
    Quantization, RawOutputs, Requantization, CRC, MAX_WIDTH,
};
use tinymlp_fuzz_case::Values;

/// The scratch sizes of the MNIST 784-512-10 model (and any model no wider).
const WIDTH: usize = 512;
const CLASSES: usize = 10;

fn main() -> ExitCode {
    match run(&std::env::args().skip(1).collect::<Vec<_>>()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<()> {
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    match strs.as_slice() {
        ["digest", blob, images, rest @ ..] if rest.len() <= 1 => {
            digest(blob, images, rest.first().copied())
        }
        ["digest-features", blob, records] => digest_features(blob, records),
        ["load", blob] => {
            let bytes = read(blob)?;
            match Model::from_bytes(&bytes) {
                Ok(_) => println!("ok"),
                Err(error) => println!("{error}"),
            }
            Ok(())
        }
        ["bench", blob, images, count, rounds, level @ ..] if level.len() <= 1 => {
            cap_level(level.first().copied())?;
            bench(blob, images, count.parse()?, rounds.parse()?)
        }
        ["random-blob", out, kind, seed] => random_blob(out, kind, seed.parse()?),
        ["corpus", dir] => corpus(dir),
        ["named-blob", blob, out, name, class_names @ ..] => {
            named_blob(blob, out, name, class_names)
        }
        _ => bail!(
            "usage: digest BLOB IMAGES [LABELS] | digest-features BLOB RECORDS | load BLOB \
             | bench BLOB IMAGES COUNT ROUNDS [sse2|avx2|vnni] | random-blob OUT (int8|f32) SEED \
             | corpus DIR | named-blob BLOB OUT NAME [CLASS_NAME...]"
        ),
    }
}

/// Caps the x86-64 kernel level for the rest of the process (a comparison at AVX2 on a CPU
/// with AVX-512 VNNI); elsewhere only no cap is accepted.
fn cap_level(level: Option<&str>) -> Result<()> {
    let Some(level) = level else {
        return Ok(());
    };
    #[cfg(target_arch = "x86_64")]
    {
        use tinymlp::kernels::x86::Level;
        match level {
            "sse2" => Level::Sse2.cap(),
            "avx2" => Level::Avx2.cap(),
            "vnni" => Level::Avx512Vnni.cap(),
            _ => bail!("level must be sse2, avx2 or vnni, not {level}"),
        }
        Ok(())
    }
    #[cfg(not(target_arch = "x86_64"))]
    bail!("kernel levels are x86-64's; this is another target ({level})")
}

fn read(path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {path}"))
}

/// The pixels of an IDX3 image file, one `Vec` of `rows * columns` bytes per image.
fn read_images(path: &str) -> Result<Vec<Vec<u8>>> {
    let bytes = read(path)?;
    let header: Vec<u32> = bytes
        .get(..16)
        .context("IDX image file shorter than its header")?
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    ensure!(header[0] == 0x0803, "{path}: not an IDX3 u8 file");
    let (count, size) = (header[1] as usize, (header[2] * header[3]) as usize);
    let pixels = &bytes[16..];
    ensure!(pixels.len() == count * size, "{path}: wrong length");
    Ok(pixels.chunks_exact(size).map(<[u8]>::to_vec).collect())
}

fn read_labels(path: &str) -> Result<Vec<u8>> {
    let bytes = read(path)?;
    ensure!(
        bytes.get(..4) == Some(&[0, 0, 8, 1][..]),
        "{path}: not an IDX1 u8 file"
    );
    Ok(bytes[8..].to_vec())
}

/// What the web tests compare: every class, the runtime's [`OutputDigest`] of the raw
/// outputs and a CRC-32C of all probabilities (as little-endian f32 bits), in input order.
struct Answers {
    classes: Vec<usize>,
    outputs: OutputDigest,
    /// The probabilities' bits, checksummed at the end (10,000 digits hold 400 KB).
    probabilities: Vec<u8>,
}

impl Answers {
    fn new() -> Answers {
        Answers {
            classes: Vec::new(),
            outputs: OutputDigest::new(),
            probabilities: Vec::new(),
        }
    }

    fn add(&mut self, prediction: &Prediction<'_>) {
        self.outputs.add(prediction);
        for p in prediction.probabilities {
            self.probabilities.extend(p.to_bits().to_le_bytes());
        }
        self.classes.push(prediction.class);
    }

    /// Prints the answers as JSON, with `model`'s kind and names, and how many classes equal
    /// `labels` (`null` without).
    fn print(self, model: &Model<'_>, labels: Option<&[u8]>) -> Result<()> {
        let correct = match labels {
            Some(labels) => {
                ensure!(labels.len() == self.classes.len(), "label count differs");
                let hits = self
                    .classes
                    .iter()
                    .zip(labels)
                    .filter(|(c, l)| **c == usize::from(**l))
                    .count();
                hits.to_string()
            }
            None => "null".into(),
        };
        let classes: Vec<String> = self.classes.iter().map(usize::to_string).collect();
        println!(
            "{{\"count\":{},\"kind\":\"{}\"{},\"digest\":{},\"probability_crc\":{},\"correct\":{},\"classes\":[{}]}}",
            self.classes.len(),
            model.kind(),
            names_json(model),
            self.outputs.finish(),
            CRC.checksum(&self.probabilities),
            correct,
            classes.join(",")
        );
        Ok(())
    }
}

/// Classifies every image (in one `predict_batch` call); prints its [`Answers`].
fn digest(blob: &str, images: &str, labels: Option<&str>) -> Result<()> {
    let bytes = read(blob)?;
    let model = Model::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{blob}: {e}"))?;
    let pixels = read_images(images)?.concat();
    let mut answers = Answers::new();
    // The batch API, as a host program that scores a data set would call it.
    let mut each = |_: usize, prediction: Prediction<'_>| answers.add(&prediction);
    match model.kind() {
        ParamKind::Int8 => {
            let mut scratch = Box::new(Int8BatchScratch::<WIDTH, CLASSES>::new());
            model.predict_batch(&pixels, &mut *scratch, &mut each)
        }
        ParamKind::F32 => {
            let mut scratch = Box::new(F32Scratch::<WIDTH, CLASSES>::new());
            model.predict_batch(&pixels, &mut *scratch, &mut each)
        }
    }?;
    let labels = labels.map(read_labels).transpose()?;
    answers.print(&model, labels.as_deref())
}

/// Predicts every record `[label u8][f32 LE x features]` of `records` with the feature model
/// `blob` (`Model::predict_features`, one record at a time, as the firmware's `tabular` build
/// does); prints its [`Answers`], the labels counted.
fn digest_features(blob: &str, records: &str) -> Result<()> {
    let bytes = read(blob)?;
    let model = Model::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{blob}: {e}"))?;
    let records_bytes = read(records)?;
    let size = 1 + 4 * model.input_len();
    ensure!(
        !records_bytes.is_empty() && records_bytes.len() % size == 0,
        "{records}: {} bytes are not whole records of 1 + 4 x {} bytes (label, features)",
        records_bytes.len(),
        model.input_len()
    );
    let mut int8 = Box::new(LargestInt8::new());
    let mut f32 = Box::new(LargestF32::new());
    let mut answers = Answers::new();
    let mut labels = Vec::new();
    for (index, record) in records_bytes.chunks_exact(size).enumerate() {
        let (&label, values) = record.split_first().context("empty record")?;
        let features: Vec<f32> = values
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let prediction = match model.kind() {
            ParamKind::Int8 => model.predict_features(&features, &mut *int8),
            ParamKind::F32 => model.predict_features(&features, &mut *f32),
        }
        .map_err(|e| anyhow::anyhow!("{records}: record {index}: {e}"))?;
        answers.add(&prediction);
        labels.push(label);
    }
    answers.print(&model, Some(&labels))
}

/// The largest scratch buffers, as in the wasm module: they run every valid model.
type LargestInt8 = Int8Scratch<{ MAX_WIDTH as usize }, { MAX_WIDTH as usize }>;
type LargestF32 = F32Scratch<{ MAX_WIDTH as usize }, { MAX_WIDTH as usize }>;

/// Every input of a fuzz corpus as the fuzz target reads it, with what the native runtime
/// makes of it, as a JSON array: the file name, the blob and the pixels (hex; the pixels are
/// the input repeated to the model's input length), the load error's text or "ok", and for a
/// model that loads, the class, the raw outputs (int32, or f32 bits) and the probabilities'
/// f32 bits.
fn corpus(dir: &str) -> Result<()> {
    let mut files = std::fs::read_dir(dir)
        .with_context(|| format!("reading {dir}"))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    files.sort();
    let mut int8 = Box::new(LargestInt8::new());
    let mut f32 = Box::new(LargestF32::new());
    let mut entries = Vec::with_capacity(files.len());
    for path in files {
        let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let Some((&mode, rest)) = data.split_first() else {
            continue;
        };
        let blob = if mode & 1 == 1 {
            // As the fuzz target reads an input (`tinymlp-fuzz-case`), so that the corpus
            // replays here exactly as the fuzzer ran it.
            tinymlp_fuzz_case::seal(rest)
        } else {
            rest.to_vec()
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let mut entry = format!(
            "{{\"file\":{},\"blob\":\"{}\"",
            json_string(&name),
            hex(&blob)
        );
        match Model::from_bytes(&blob) {
            Err(error) => entry += &format!(",\"load\":{}", json_string(&error.to_string())),
            Ok(model) => {
                entry += &names_json(&model);
                // As the fuzz target runs it: pixels, or features for a feature model.
                let (input, prediction) = match tinymlp_fuzz_case::values_for(&data, &model) {
                    Values::Pixels(pixels) => (
                        format!("\"pixels\":\"{}\"", hex(&pixels)),
                        match model.kind() {
                            ParamKind::Int8 => model.predict(&pixels, &mut *int8),
                            ParamKind::F32 => model.predict(&pixels, &mut *f32),
                        },
                    ),
                    Values::Features(features) => (
                        format!("\"features\":[{}]", bits_json(&features)),
                        match model.kind() {
                            ParamKind::Int8 => model.predict_features(&features, &mut *int8),
                            ParamKind::F32 => model.predict_features(&features, &mut *f32),
                        },
                    ),
                };
                entry += &format!(",\"load\":\"ok\",{input}");
                match prediction {
                    // Raw features far outside an f32 model's range may overflow it.
                    Err(error) => {
                        entry += &format!(",\"predict\":{}", json_string(&error.to_string()))
                    }
                    Ok(prediction) => {
                        let raw: Vec<String> = match prediction.raw {
                            RawOutputs::Int32(raw) => raw.iter().map(i32::to_string).collect(),
                            RawOutputs::F32(raw) => {
                                raw.iter().map(|v| v.to_bits().to_string()).collect()
                            }
                        };
                        entry += &format!(
                            ",\"class\":{},\"raw\":[{}],\"probabilities\":[{}]",
                            prediction.class,
                            raw.join(","),
                            bits_json(prediction.probabilities)
                        );
                    }
                }
            }
        }
        entries.push(entry + "}");
    }
    println!("[{}]", entries.join(",\n"));
    Ok(())
}

/// The model's name and class names as JSON members (`null` and `[]` for none).
fn names_json(model: &Model<'_>) -> String {
    let class_names: Vec<String> = (0..model.classes())
        .map_while(|class| model.class_name(class))
        .map(json_string)
        .collect();
    format!(
        ",\"name\":{},\"class_names\":[{}]",
        model.name().map_or("null".into(), json_string),
        class_names.join(",")
    )
}

/// f32 values as their bits, comma-separated (NaN and -0 survive JSON).
fn bits_json(values: &[f32]) -> String {
    let bits: Vec<String> = values.iter().map(|v| v.to_bits().to_string()).collect();
    bits.join(",")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted += "\\\"",
            '\\' => quoted += "\\\\",
            c if c.is_control() => quoted += &format!("\\u{:04x}", u32::from(c)),
            c => quoted.push(c),
        }
    }
    quoted + "\""
}

/// Times `rounds` passes over the first `count` images; prints the best round's nanoseconds
/// per inference (the figure least disturbed by other work on the machine) and the median's.
fn bench(blob: &str, images: &str, count: usize, rounds: usize) -> Result<()> {
    let bytes = read(blob)?;
    let model = Model::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{blob}: {e}"))?;
    let images = read_images(images)?;
    let images = images.get(..count).context("fewer images than COUNT")?;
    let mut int8 = Int8Scratch::<WIDTH, CLASSES>::new();
    let mut f32 = F32Scratch::<WIDTH, CLASSES>::new();
    let mut per_round = Vec::with_capacity(rounds);
    let mut checksum = 0usize;
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        for image in images {
            let class = match model.kind() {
                ParamKind::Int8 => model.predict(black_box(image), &mut int8)?.class,
                ParamKind::F32 => model.predict(black_box(image), &mut f32)?.class,
            };
            checksum = checksum.wrapping_add(class);
        }
        per_round.push(start.elapsed().as_nanos() as f64 / images.len() as f64);
    }
    per_round.sort_by(f64::total_cmp);
    println!(
        "{{\"best_ns\":{:.1},\"median_ns\":{:.1},\"count\":{},\"rounds\":{},\"class_sum\":{}}}",
        per_round[0],
        per_round[per_round.len() / 2],
        images.len(),
        per_round.len(),
        checksum
    );
    Ok(())
}

/// A deterministic random-weights 784-512-10 model, for developing without the trained one.
fn random_blob(out: &str, kind: &str, seed: u64) -> Result<()> {
    let mut rng = Seeded(Xoshiro256PlusPlus::seed_from_u64(seed));
    let (inputs, hidden, classes) = (784u32, 512u32, 10u32);
    let input = InputSpec {
        width: 28,
        height: 28,
        channels: 1,
        scale: 1.0 / 255.0,
        zero_point: 0,
    };
    let blob = match kind {
        "int8" => {
            let weights = |rng: &mut Seeded, n: u32| -> Vec<u8> {
                (0..n)
                    .map(|_| (rng.below(255) as i32 - 127) as i8 as u8)
                    .collect()
            };
            let le32 = |v: &[i32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
            let lef32 = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
            let w1 = weights(&mut rng, inputs * hidden);
            let w2 = weights(&mut rng, hidden * classes);
            let s1: Vec<f32> = (0..hidden).map(|_| 0.002 + rng.unit() * 0.002).collect();
            let s2: Vec<f32> = (0..classes).map(|_| 0.004 + rng.unit() * 0.004).collect();
            let b1: Vec<i32> = (0..hidden)
                .map(|_| rng.below(20_001) as i32 - 10_000)
                .collect();
            let b2: Vec<i32> = (0..classes)
                .map(|_| rng.below(2_001) as i32 - 1_000)
                .collect();
            let input_q = Quantization {
                scale: input.scale,
                zero_point: 0,
            };
            let hidden_q = Quantization {
                scale: 0.05,
                zero_point: -128,
            };
            let mut multipliers = Vec::new();
            let mut shifts = Vec::new();
            for s in &s1 {
                let real = f64::from(input.scale) * f64::from(*s) / f64::from(hidden_q.scale);
                let (m, shift) = quantize_multiplier(real).context("multiplier out of range")?;
                multipliers.push(m);
                shifts.push(shift as u8);
            }
            let (s1b, b1b, mb, s2b, b2b) = (
                lef32(&s1),
                le32(&b1),
                le32(&multipliers),
                lef32(&s2),
                le32(&b2),
            );
            let layers = [
                DenseLayer {
                    inputs,
                    outputs: hidden,
                    activation: Activation::Relu,
                    params: Params::Int8(Int8Params {
                        input: input_q,
                        weights: &w1,
                        weight_scales: &s1b,
                        bias: &b1b,
                        requantization: Some(Requantization {
                            multipliers: &mb,
                            shifts: &shifts,
                            output: hidden_q,
                        }),
                    }),
                },
                DenseLayer {
                    inputs: hidden,
                    outputs: classes,
                    activation: Activation::Softmax,
                    params: Params::Int8(Int8Params {
                        input: hidden_q,
                        weights: &w2,
                        weight_scales: &s2b,
                        bias: &b2b,
                        requantization: None,
                    }),
                },
            ];
            encode(input, classes, &layers)?
        }
        "f32" => {
            let mut floats = |n: u32, scale: f32| -> Vec<u8> {
                (0..n)
                    .flat_map(|_| ((rng.unit() * 2.0 - 1.0) * scale).to_le_bytes())
                    .collect()
            };
            let (w1, b1) = (floats(inputs * hidden, 0.08), floats(hidden, 0.1));
            let (w2, b2) = (floats(hidden * classes, 0.1), floats(classes, 0.1));
            let layers = [
                DenseLayer {
                    inputs,
                    outputs: hidden,
                    activation: Activation::Relu,
                    params: Params::F32(F32Params {
                        weights: &w1,
                        bias: &b1,
                    }),
                },
                DenseLayer {
                    inputs: hidden,
                    outputs: classes,
                    activation: Activation::Softmax,
                    params: Params::F32(F32Params {
                        weights: &w2,
                        bias: &b2,
                    }),
                },
            ];
            encode(input, classes, &layers)?
        }
        _ => bail!("kind must be int8 or f32"),
    };
    std::fs::write(out, &blob).with_context(|| format!("writing {out}"))?;
    Ok(())
}

/// Writes `blob`'s model to `out` as the current format version, named `name`, with
/// `class_names` (none, or one per class).
fn named_blob(blob: &str, out: &str, name: &str, class_names: &[&str]) -> Result<()> {
    let bytes = read(blob)?;
    let model = Model::from_bytes(&bytes)?;
    let def = ModelDef {
        header: Header::CURRENT,
        input: *model.input(),
        classes: model.classes() as u32,
        name: Some(name),
        class_names,
        layers: model.layers(),
    };
    let named = def.encode_to_vec()?;
    Model::from_bytes(&named)?;
    std::fs::write(out, &named).with_context(|| format!("writing {out}"))?;
    Ok(())
}

fn encode(input: InputSpec, classes: u32, layers: &[DenseLayer<'_>]) -> Result<Vec<u8>> {
    let def = ModelDef {
        header: Header::CURRENT,
        input: Input::Pixels(input),
        classes,
        name: None,
        class_names: &[],
        layers,
    };
    let blob = def.encode_to_vec()?;
    Model::from_bytes(&blob)?;
    Ok(blob)
}

/// Reproducible weights from a seed (xoshiro256++).
struct Seeded(Xoshiro256PlusPlus);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}
