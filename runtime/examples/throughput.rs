//! Throughput of the int8 runtime over a whole test set, one input at a time (`predict`) and
//! in batches (`predict_batch`, on 1 and 2 threads), at each x86-64 kernel level this CPU
//! has, rounds interleaved so that a loaded machine slows every configuration alike.
//!
//! ```text
//! cargo run --release -p tinymlp --example throughput -- MODEL IDX_IMAGES [ROUNDS [ONLY]]
//! ```
//!
//! With `ONLY` (for profiling), only the configurations whose `name level threads` contains
//! it run, e.g. `"batch Avx512Vnni 1"`.
//!
//! Prints one JSON object per configuration and line: `name`, `threads`, `level`, the
//! median and every round's wall-clock milliseconds for the whole set, the median of the
//! busiest thread's on-CPU milliseconds (Linux `schedstat`: what the wall clock would read
//! on an idle machine, less disturbed by other work), and the sum of the predicted classes
//! (the same for every configuration, or the run fails). `bench/inference.py` reads it
//! beside PyTorch and onnxruntime.

use std::time::Instant;

use tinymlp::{Int8BatchScratch, Int8Scratch, Model};

/// Scratch sizes for the MNIST 784-512-10 model (and any model no wider).
type Batch = Int8BatchScratch<512, 10>;
type Single = Int8Scratch<512, 10>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_path, images_path, rest @ ..] = args.as_slice() else {
        return Err("usage: throughput MODEL IDX_IMAGES [ROUNDS [ONLY]]".into());
    };
    let rounds: usize = rest.first().map_or(Ok(5), |r| r.parse())?;
    let only = rest.get(1).map_or("", String::as_str);
    let blob = std::fs::read(model_path)?;
    let model = Model::from_bytes(&blob).map_err(|e| format!("{model_path}: {e}"))?;
    let idx = std::fs::read(images_path)?;
    let pixels = idx
        .get(16..)
        .filter(|_| idx.get(..4) == Some(&[0, 0, 8, 3][..]))
        .ok_or_else(|| format!("{images_path}: not an IDX3 u8 file"))?;
    if pixels.len() % model.input_len() != 0 {
        return Err(format!("{images_path}: images are not {} pixels", model.input_len()).into());
    }

    let configurations: Vec<Configuration> = configurations()
        .into_iter()
        .filter(|c| format!("{} {:?} {}", c.name, c.level, c.threads).contains(only))
        .collect();
    let mut times = vec![Vec::new(); configurations.len()];
    let mut cpu_times = vec![Vec::new(); configurations.len()];
    let mut sums = vec![None; configurations.len()];
    for _ in 0..rounds {
        for (index, configuration) in configurations.iter().enumerate() {
            configuration.level.cap();
            let start = Instant::now();
            let (sum, cpu_ns) = configuration.run(&model, pixels)?;
            times[index].push(start.elapsed().as_secs_f64() * 1e3);
            cpu_times[index].push(cpu_ns as f64 / 1e6);
            if *sums[index].get_or_insert(sum) != sum {
                return Err(
                    format!("{}: another answer in another round", configuration.name).into(),
                );
            }
        }
    }
    Level::best().cap();
    let first = sums.first().copied().flatten();
    for (((configuration, mut times), mut cpu), sum) in
        configurations.iter().zip(times).zip(cpu_times).zip(sums)
    {
        if sum != first {
            return Err(format!(
                "{}: class sum {sum:?} differs from {first:?}",
                configuration.name
            )
            .into());
        }
        let rounds: Vec<String> = times.iter().map(|t| format!("{t:.3}")).collect();
        times.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        println!(
            "{{\"name\":\"{}\",\"threads\":{},\"level\":\"{:?}\",\"inputs\":{},\"median_ms\":{:.3},\"cpu_median_ms\":{:.3},\"rounds_ms\":[{}],\"class_sum\":{}}}",
            configuration.name,
            configuration.threads,
            configuration.level,
            pixels.len() / model.input_len(),
            times[times.len() / 2],
            cpu[cpu.len() / 2],
            rounds.join(","),
            sum.unwrap_or(0),
        );
    }
    Ok(())
}

/// This thread's on-CPU nanoseconds so far (0 where Linux's `schedstat` is missing).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[cfg(target_arch = "x86_64")]
use tinymlp::kernels::x86::Level;

/// Elsewhere there is one level: the kernels compiled for the target.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Debug, Clone, Copy)]
enum Level {
    Portable,
}

#[cfg(not(target_arch = "x86_64"))]
impl Level {
    fn cap(self) {}
    fn best() -> Level {
        Level::Portable
    }
}

#[cfg(target_arch = "x86_64")]
trait Best {
    fn best() -> Level;
}

#[cfg(target_arch = "x86_64")]
impl Best for Level {
    fn best() -> Level {
        Level::Avx512Vnni.cap();
        Level::detect()
    }
}

struct Configuration {
    name: &'static str,
    level: Level,
    threads: usize,
    batch: bool,
}

/// Batch and single-input paths at every level this CPU has, best level first.
fn configurations() -> Vec<Configuration> {
    #[cfg(target_arch = "x86_64")]
    let levels: Vec<Level> = [Level::Avx512Vnni, Level::Avx2]
        .into_iter()
        .filter(|level| level.is_available())
        .collect();
    #[cfg(not(target_arch = "x86_64"))]
    let levels = vec![Level::best()];
    let mut configurations = Vec::new();
    for level in levels {
        for (name, threads, batch) in [
            ("tinymlp batch", 2, true),
            ("tinymlp batch", 1, true),
            ("tinymlp predict loop", 1, false),
        ] {
            configurations.push(Configuration {
                name,
                level,
                threads,
                batch,
            });
        }
    }
    configurations
}

impl Configuration {
    /// Classifies every input; returns the sum of the classes and the busiest thread's
    /// on-CPU nanoseconds.
    fn run(&self, model: &Model<'_>, pixels: &[u8]) -> Result<(usize, u64), tinymlp::Error> {
        let inputs = pixels.len() / model.input_len();
        let per_thread = inputs.div_ceil(self.threads).max(1) * model.input_len();
        std::thread::scope(|threads| {
            let running: Vec<_> = pixels
                .chunks(per_thread)
                .map(|part| {
                    threads.spawn(move || {
                        let start = thread_cpu_ns();
                        let sum = self.run_part(model, part);
                        sum.map(|sum| (sum, thread_cpu_ns().saturating_sub(start)))
                    })
                })
                .collect();
            let mut total = (0, 0);
            for thread in running {
                let (sum, cpu) = thread.join().unwrap_or(Err(tinymlp::Error::Malformed))?;
                total = (total.0 + sum, total.1.max(cpu));
            }
            Ok(total)
        })
    }

    fn run_part(&self, model: &Model<'_>, pixels: &[u8]) -> Result<usize, tinymlp::Error> {
        let mut sum = 0;
        if self.batch {
            let mut scratch = Box::new(Batch::new());
            model.predict_batch(pixels, &mut *scratch, |_, prediction| {
                sum += prediction.class
            })?;
        } else {
            let mut scratch = Box::new(Single::new());
            for input in pixels.chunks_exact(model.input_len()) {
                sum += model.predict(input, &mut *scratch)?.class;
            }
        }
        Ok(sum)
    }
}
