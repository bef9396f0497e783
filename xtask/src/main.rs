//! `cargo xtask`: every task of the project from one place, each a thin call of the script
//! that does it (the scripts stay runnable on their own, and CI calls the same ones).
//! `cargo xtask --help` lists the tasks; `cargo xtask TASK --help` says what each takes.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(about = "tinymlp's tasks (each runs the script named in its help)")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install what the build and tests need (scripts/setup.sh; idempotent).
    Setup,
    /// Every test, as the README's test command (scripts/test.sh).
    Test,
    /// Everything CI checks: set-up, fmt, clippy, cross builds, docs, tests (.ci/run).
    Ci,
    /// Download and verify MNIST into data/mnist (`trainer fetch`).
    Fetch,
    /// The 5-epoch CPU fit beside Keras and PyTorch, 3 seeds (bench/run.sh; needs a venv
    /// with keras, tensorflow and torch: bench/README.md).
    BenchTrain,
    /// Inference: tinymlp batch and single-sample beside PyTorch and onnxruntime
    /// (bench/inference.py; needs a Python with torch, onnx, onnxruntime, numpy).
    BenchInference {
        /// The Python to run it with.
        #[arg(long, default_value = "python3")]
        python: String,
    },
    /// Build the firmware for a board (scripts/firmware-build.sh).
    Firmware {
        /// The board.
        #[arg(value_enum)]
        board: Board,
    },
    /// Code sizes, flash, RAM and peak stack of every board's firmware
    /// (scripts/firmware-size.sh).
    FirmwareSize,
    /// Instructions per inference in QEMU for each Cortex-M build, with the project's own
    /// QEMU plugin (tools/qemu-insncount, built first; scripts/firmware-insncount.sh).
    Insncount,
    /// Build the web page and wasm modules into web/dist (scripts/web-build.sh).
    WebBuild,
    /// The wasm parity tests and the page in headless Chromium (scripts/web-test.sh).
    WebTest,
    /// Serve the drawing page on localhost (web/serve.sh).
    WebServe,
    /// The CUDA check: `stage` here, `device` on the GPU machine (scripts/gpu-check.sh).
    GpuCheck {
        /// Which half.
        #[arg(value_enum, default_value = "stage")]
        half: GpuHalf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Board {
    Qemu,
    #[value(name = "mps2-an500")]
    Mps2An500,
    Nrf52840,
    Rp2040,
    Rp2350,
    #[value(name = "mps2-an505")]
    Mps2An505,
}

#[derive(Clone, Copy, ValueEnum)]
enum GpuHalf {
    Stage,
    Device,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (program, args): (&str, Vec<String>) = match cli.task {
        Task::Setup => script("scripts/setup.sh", &[]),
        Task::Test => script("scripts/test.sh", &[]),
        Task::Ci => script(".ci/run", &[]),
        Task::Fetch => (
            "cargo",
            ["run", "-q", "--release", "-p", "trainer", "--", "fetch"]
                .map(String::from)
                .to_vec(),
        ),
        Task::BenchTrain => script("bench/run.sh", &[]),
        Task::BenchInference { python } => {
            return run(&python, &["bench/inference.py".to_string()]);
        }
        Task::Firmware { board } => {
            let name = board.to_possible_value().map(|v| v.get_name().to_string());
            script("scripts/firmware-build.sh", &[&name.unwrap_or_default()])
        }
        Task::FirmwareSize => script("scripts/firmware-size.sh", &[]),
        Task::Insncount => script("scripts/firmware-insncount.sh", &[]),
        Task::WebBuild => script("scripts/web-build.sh", &[]),
        Task::WebTest => script("scripts/web-test.sh", &[]),
        Task::WebServe => script("web/serve.sh", &[]),
        Task::GpuCheck { half } => script(
            "scripts/gpu-check.sh",
            &[match half {
                GpuHalf::Stage => "stage",
                GpuHalf::Device => "device",
            }],
        ),
    };
    run(program, &args)
}

/// `bash SCRIPT ARGS...`.
fn script(path: &str, args: &[&str]) -> (&'static str, Vec<String>) {
    let mut all = vec![path.to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    ("bash", all)
}

/// Runs `program` from the repository root, passing its exit status on.
fn run(program: &str, args: &[String]) -> ExitCode {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    eprintln!("xtask: {program} {}", args.join(" "));
    match Command::new(program).args(args).current_dir(&root).status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(status.code().map_or(1, |c| c.clamp(1, 255) as u8)),
        Err(error) => {
            eprintln!("xtask: cannot run {program}: {error}");
            ExitCode::FAILURE
        }
    }
}
