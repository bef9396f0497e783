//! `trainer convert MODEL --out model.tmlp [--int8] [--calibration DATA] [--test DATA]`: a
//! model trained in PyTorch or Keras (ONNX, or a safetensors `state_dict`) to a tinymlp
//! blob, through the trainer's own model type ([`Imported::into_model`]), so the blobs are
//! quantized and encoded by the code that exports the trainer's models.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Imported, Output};
use crate::backend::Device;
use crate::data::{self, Dataset, InputTransform, Inputs, PIXEL_SCALE};
use crate::error::{Error, Result};
use crate::export::{encode_f32, BlobHead, Blobs, Calibration, ExportOptions, Predictor};
use tinymlp::softmax::argmax;

/// How raw inputs become the model's input values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputKind {
    /// `pixels` for a model whose input is an image, grey or colour (or a flat input when
    /// the data are images of its size), `features` otherwise.
    Auto,
    /// `u8` pixels divided by 255 (`--pixel-scale`).
    Pixels,
    /// Raw f32 features, as they are or standardized with `--mean` and `--std`.
    Features,
}

/// The options of `trainer convert`.
#[derive(clap::Args, Debug, Clone)]
pub struct ConvertArgs {
    /// The model: an ONNX file (`.onnx`: PyTorch's torch.onnx.export, Keras's
    /// model.export(format="onnx"), tf2onnx), or a PyTorch state_dict saved with
    /// safetensors (`.safetensors`).
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// Where the blob goes: the f32 blob, or the int8 one with --int8.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Write the int8 blob, quantized as the trainer quantizes its own models and
    /// calibrated on --calibration.
    #[arg(long)]
    pub int8: bool,
    /// Samples like the model's inputs, to calibrate the int8 activation ranges on (the
    /// first --calibration-samples): a file as `trainer --train` takes it (.csv, .npz,
    /// .npy with --calibration-labels, IDX with --calibration-labels). Default: MNIST's
    /// training images (in --data-dir, fetched if missing), for a model of 784 inputs.
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
    /// The labels of a .npy or IDX --calibration file.
    #[arg(long, value_name = "FILE", requires = "calibration")]
    pub calibration_labels: Option<PathBuf>,
    /// Test data (as --calibration): prints the accuracy of the model in the trainer and
    /// of the f32 and int8 blobs through the tinymlp runtime, side by side.
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    /// The labels of a .npy or IDX --test file.
    #[arg(long, value_name = "FILE", requires = "test")]
    pub test_labels: Option<PathBuf>,
    /// The framework's own probabilities on the --test samples, raw little-endian f32,
    /// samples x classes (NumPy: `probs.astype("<f4").tofile(FILE)`): prints how often each
    /// blob picks the framework's class, and the f32 blob's largest probability difference.
    #[arg(long, value_name = "FILE", requires = "test")]
    pub reference: Option<PathBuf>,
    /// The label column of a CSV file, by its header name (default: the last column).
    #[arg(long, value_name = "NAME")]
    pub label: Option<String>,
    /// What a safetensors state_dict's last layer ends in (the file holds no
    /// activations; ONNX graphs say it themselves). Either way the blob outputs
    /// probabilities: the runtime applies softmax to the last layer.
    #[arg(long, value_enum, default_value_t = Output::Logits)]
    pub output: Output,
    /// How raw inputs map to the model's input: auto (pixels for image-shaped inputs,
    /// features otherwise), pixels (u8 / 255), or features (f32, minus --mean, over --std).
    #[arg(long, value_enum, default_value_t = InputKind::Auto)]
    pub input: InputKind,
    /// With --input pixels: the real value of one pixel step.
    #[arg(long, default_value_t = PIXEL_SCALE, value_name = "SCALE")]
    pub pixel_scale: f32,
    /// Features: the mean to subtract, one number for every input or one per input
    /// separated by commas (as the model was trained: its Normalization layer's mean).
    #[arg(long, value_name = "MEAN", allow_hyphen_values = true)]
    pub mean: Option<String>,
    /// Features: the standard deviation to divide by, one number or one per input.
    #[arg(long, value_name = "STD")]
    pub std: Option<String>,
    /// Samples used to calibrate the int8 activation ranges (at least 1).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    pub calibration_samples: u32,
    /// The model's name in the blob (1-255 bytes; default: none).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Folder with the MNIST IDX files, the default calibration data (fetched if missing).
    #[arg(long, default_value = "data/mnist")]
    pub data_dir: PathBuf,
}

/// A blob's figures on the test data.
#[derive(Debug, Clone, PartialEq)]
pub struct BlobFigures {
    /// Fraction of samples whose predicted class is the label.
    pub accuracy: f64,
    /// With `--reference`: fraction of samples whose predicted class is the framework's.
    pub agreement: Option<f64>,
    /// With `--reference`: the largest difference between a probability of the blob and the
    /// framework's.
    pub largest_difference: Option<f32>,
}

/// The figures on the test data.
#[derive(Debug, Clone, PartialEq)]
pub struct TestFigures {
    /// Samples tested.
    pub samples: usize,
    /// The model's accuracy in the trainer (f32, its CPU backend).
    pub float_accuracy: f32,
    /// With `--reference`: the framework's own accuracy.
    pub reference_accuracy: Option<f64>,
    /// The f32 blob through the runtime.
    pub f32_blob: BlobFigures,
    /// The int8 blob through the runtime.
    pub int8_blob: BlobFigures,
}

/// What a conversion did.
#[derive(Debug, Clone)]
pub struct Conversion {
    /// The model as read.
    pub imported: Imported,
    /// How its input is read (and described in the blob).
    pub input: InputTransform,
    /// The blob written to `--out`.
    pub blob: Vec<u8>,
    /// With `--test`.
    pub test: Option<TestFigures>,
}

/// Reads the model and the data, writes the blob, scores both blobs on the test data.
pub fn convert(args: &ConvertArgs) -> Result<Conversion> {
    let imported = read_model(args)?;
    let calibration_given = args
        .calibration
        .as_deref()
        .map(|path| {
            data::Source::new(
                path,
                args.calibration_labels.as_deref(),
                args.label.as_deref(),
            )?
            .dataset()
        })
        .transpose()?;
    let test = args
        .test
        .as_deref()
        .map(|path| {
            data::Source::new(path, args.test_labels.as_deref(), args.label.as_deref())?
                .dataset()
                .map(Arc::new)
        })
        .transpose()?;
    let input = input_transform(
        args,
        &imported,
        calibration_given.as_ref().or(test.as_deref()),
    )?;
    let width = input.width();
    let inputs = imported.parameters.sizes()[0];
    if width != inputs {
        return Err(Error::Config(format!(
            "the input mapping gives {width} values but the model takes {inputs}"
        )));
    }
    let options = ExportOptions {
        calibration: Calibration {
            samples: args.calibration_samples as usize,
            ..Calibration::default()
        },
        name: args.name.clone(),
    };
    let mut model = imported.clone().into_model(input.clone(), Device::Cpu)?;
    let needs_int8 = args.int8 || test.is_some();
    let blobs = if needs_int8 {
        let calibration = match calibration_given {
            Some(data) => data,
            None => mnist_calibration(args, inputs)?,
        };
        Some(model.export(&calibration, &options)?)
    } else {
        None
    };
    let blob = match (&blobs, args.int8) {
        (Some(blobs), true) => blobs.int8.clone(),
        (Some(blobs), false) => blobs.f32.clone(),
        (None, _) => {
            let standardization = input.feature_bytes();
            let head = BlobHead {
                input: input.blob_input(&standardization),
                name: options.name.as_deref(),
                class_names: &[],
            };
            encode_f32(&head, &imported.parameters)?
        }
    };
    crate::files::write_atomic(&args.out, &blob)?;
    let test = match (test, blobs) {
        (Some(test), Some(blobs)) => Some(test_figures(args, &mut model, &input, &test, &blobs)?),
        _ => None,
    };
    Ok(Conversion {
        imported,
        input,
        blob,
        test,
    })
}

/// `trainer convert`: [`convert`], printing the layer table, the input mapping, the blob
/// written and, with test data, the accuracies side by side.
pub fn run(args: &ConvertArgs) -> anyhow::Result<()> {
    let conversion = convert(args)?;
    print!("{}", report(args, &conversion));
    Ok(())
}

/// What `run` prints.
pub fn report(args: &ConvertArgs, conversion: &Conversion) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "{}", args.model.display());
    text.push_str(&conversion.imported.layer_table());
    let _ = writeln!(text, "input mapping: {}", describe_input(&conversion.input));
    let _ = writeln!(
        text,
        "wrote {} ({} blob, {} bytes)",
        args.out.display(),
        if args.int8 { "int8" } else { "f32" },
        super::thousands(conversion.blob.len())
    );
    if let Some(test) = &conversion.test {
        let percent = |v: f64| format!("{:.2} %", 100.0 * v);
        let _ = writeln!(
            text,
            "test ({} samples): float {}, f32 blob {}, int8 blob {}{}",
            test.samples,
            percent(f64::from(test.float_accuracy)),
            percent(test.f32_blob.accuracy),
            percent(test.int8_blob.accuracy),
            test.reference_accuracy.map_or(String::new(), |a| format!(
                " (the framework: {})",
                percent(a)
            ))
        );
        if let (Some(f32_agreement), Some(int8_agreement), Some(difference)) = (
            test.f32_blob.agreement,
            test.int8_blob.agreement,
            test.f32_blob.largest_difference,
        ) {
            let _ = writeln!(
                text,
                "same class as the framework: f32 blob {}, int8 blob {}; f32 blob \
                 probabilities within {difference:.1e} of the framework's",
                percent(f32_agreement),
                percent(int8_agreement)
            );
        }
    }
    text
}

fn describe_input(input: &InputTransform) -> String {
    match input {
        InputTransform::Pixels {
            rows,
            cols,
            channels,
            scale,
        } => {
            let shape = match channels {
                1 => format!("{rows}x{cols}"),
                _ => format!("{rows}x{cols}x{channels}"),
            };
            let scaling = if *scale == PIXEL_SCALE {
                "divided by 255".to_string()
            } else {
                format!("times {scale}")
            };
            format!("u8 pixels of {shape} images, {scaling}")
        }
        InputTransform::Features { offsets, scales }
            if offsets.iter().all(|&o| o == 0.0) && scales.iter().all(|&s| s == 1.0) =>
        {
            format!("{} raw f32 features, as they are", offsets.len())
        }
        InputTransform::Features { offsets, .. } => format!(
            "{} raw f32 features, standardized with the given mean and deviation",
            offsets.len()
        ),
    }
}

fn read_model(args: &ConvertArgs) -> Result<Imported> {
    let extension = args
        .model
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "onnx" => super::onnx(&args.model),
        "safetensors" => super::safetensors(&args.model, args.output),
        _ => Err(Error::Config(format!(
            "{}: unknown model type: expected .onnx (ONNX) or .safetensors (a PyTorch \
             state_dict)",
            args.model.display()
        ))),
    }
}

/// The input transform the options say, for `data` (calibration or test samples) when
/// the options leave it to the data.
fn input_transform(
    args: &ConvertArgs,
    imported: &Imported,
    data: Option<&Dataset>,
) -> Result<InputTransform> {
    let width = imported.parameters.sizes()[0];
    let standardized = args.mean.is_some() || args.std.is_some();
    let kind = match (args.input, standardized) {
        (InputKind::Pixels, true) => {
            return Err(Error::Config(
                "--mean and --std apply to --input features, not pixels".into(),
            ))
        }
        (InputKind::Auto, true) => InputKind::Features,
        (kind, _) => kind,
    };
    let input = match kind {
        InputKind::Auto => imported.default_input(data),
        InputKind::Pixels => {
            let (rows, cols, channels) = match (imported.image_shape(), data.map(|d| &d.inputs)) {
                (Some(shape), _) => shape,
                (_, Some(Inputs::Pixels { rows, cols, .. })) if rows * cols == width => {
                    (*rows, *cols, 1)
                }
                _ => (1, width, 1),
            };
            InputTransform::Pixels {
                rows,
                cols,
                channels,
                scale: args.pixel_scale,
            }
        }
        InputKind::Features => {
            let means = per_input("--mean", args.mean.as_deref(), width, 0.0)?;
            let deviations = per_input("--std", args.std.as_deref(), width, 1.0)?;
            if let Some(j) = deviations.iter().position(|&d| d.is_nan() || d <= 0.0) {
                return Err(Error::Config(format!(
                    "--std of input {j} is {}: a deviation must be above 0",
                    deviations[j]
                )));
            }
            InputTransform::Features {
                offsets: means,
                scales: deviations.iter().map(|d| 1.0 / d).collect(),
            }
        }
    };
    input.check()?;
    Ok(input)
}

/// `"0.5"` as `width` times 0.5, `"1,2,3"` as those `width` values, nothing as `default`.
fn per_input(option: &str, text: Option<&str>, width: usize, default: f32) -> Result<Vec<f32>> {
    let Some(text) = text else {
        return Ok(vec![default; width]);
    };
    let values = text
        .split(',')
        .enumerate()
        .map(|(i, v)| {
            v.trim()
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    Error::Config(format!(
                        "{option}: value {i} ({v:?}) is not a finite number"
                    ))
                })
        })
        .collect::<Result<Vec<f32>>>()?;
    match values.len() {
        1 => Ok(vec![values[0]; width]),
        n if n == width => Ok(values),
        n => Err(Error::Config(format!(
            "{option} has {n} values: give one, or one per input ({width})"
        ))),
    }
}

/// MNIST's training images, the calibration data when none is given.
fn mnist_calibration(args: &ConvertArgs, inputs: usize) -> Result<Dataset> {
    if inputs != 784 {
        return Err(Error::Config(format!(
            "the int8 blob (written with --int8, scored with --test) needs calibration \
             samples like the model's inputs: give --calibration (the default, MNIST's \
             images, has 784 values per sample and the model takes {inputs})"
        )));
    }
    let (train, _) = data::mnist(&args.data_dir)?;
    Ok(Arc::unwrap_or_clone(train))
}

fn test_figures(
    args: &ConvertArgs,
    model: &mut crate::Model,
    input: &InputTransform,
    test: &Arc<Dataset>,
    blobs: &Blobs,
) -> Result<TestFigures> {
    let float_accuracy = model.evaluate(test)?.accuracy;
    let reference = args
        .reference
        .as_deref()
        .map(|path| read_reference(path, test.len(), model.sizes().last().copied().unwrap_or(0)))
        .transpose()?;
    let figures = |blob: &[u8]| -> Result<BlobFigures> {
        let probabilities = blob_probabilities(blob, input, test)?;
        let accuracy = fraction(
            probabilities
                .iter()
                .zip(&test.labels)
                .filter(|(p, &l)| argmax(p) == usize::from(l)),
            test.len(),
        );
        let (agreement, largest_difference) = match &reference {
            Some(reference) => (
                Some(fraction(
                    probabilities
                        .iter()
                        .zip(reference)
                        .filter(|(p, r)| argmax(p) == argmax(r)),
                    test.len(),
                )),
                Some(
                    probabilities
                        .iter()
                        .zip(reference)
                        .flat_map(|(p, r)| p.iter().zip(r).map(|(a, b)| (a - b).abs()))
                        .fold(0.0f32, f32::max),
                ),
            ),
            None => (None, None),
        };
        Ok(BlobFigures {
            accuracy,
            agreement,
            largest_difference,
        })
    };
    Ok(TestFigures {
        samples: test.len(),
        float_accuracy,
        reference_accuracy: reference.as_ref().map(|reference| {
            fraction(
                reference
                    .iter()
                    .zip(&test.labels)
                    .filter(|(r, &l)| argmax(r) == usize::from(l)),
                test.len(),
            )
        }),
        f32_blob: figures(&blobs.f32)?,
        int8_blob: figures(&blobs.int8)?,
    })
}

fn fraction<T>(hits: impl Iterator<Item = T>, total: usize) -> f64 {
    hits.count() as f64 / total.max(1) as f64
}

/// Every sample's probabilities through a blob, by the runtime: images as bytes to a
/// pixel model, anything else as raw f32 features (pixels as their number).
fn blob_probabilities(
    blob: &[u8],
    input: &InputTransform,
    data: &Dataset,
) -> Result<Vec<Vec<f32>>> {
    input.check_data(data)?;
    let mut predictor = Predictor::new(blob)?;
    let mut out = Vec::with_capacity(data.len());
    match (input, &data.inputs) {
        (InputTransform::Pixels { .. }, Inputs::Pixels { images, .. }) => {
            predictor.predict_many(images, |_, p| out.push(p.probabilities.to_vec()))?
        }
        _ => {
            for i in 0..data.len() {
                let features: Vec<f32> = match (data.features(i), data.image(i)) {
                    (Some(features), _) => features.to_vec(),
                    (None, Some(image)) => image.iter().map(|&p| f32::from(p)).collect(),
                    (None, None) => Vec::new(),
                };
                predictor.predict_features(&features, |p| out.push(p.probabilities.to_vec()))?;
            }
        }
    }
    Ok(out)
}

/// A framework's probabilities: `samples` rows of `classes` f32 little-endian.
fn read_reference(path: &Path, samples: usize, classes: usize) -> Result<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() != samples * classes * 4 {
        return Err(Error::BadData {
            path: path.to_path_buf(),
            reason: format!(
                "{} bytes, not {samples} samples x {classes} classes of f32 ({} bytes)",
                bytes.len(),
                samples * classes * 4
            ),
        });
    }
    Ok(bytes
        .chunks_exact(classes * 4)
        .map(|row| {
            row.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect())
}
