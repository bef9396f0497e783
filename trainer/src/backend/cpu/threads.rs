//! The hand-off between the calling thread and the helper threads: each helper owns a
//! shard, receives a [`Job`] per step and hands back its step-1 output.

use std::sync::mpsc::{Receiver, RecvError, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::epoch::Context;
use super::shard::Shard;
use super::sparse::BatchPart;
use crate::network::optimizer::StepScalars;

/// How long a thread spins waiting for the other threads before it blocks. On a quiet
/// machine the waits inside a step are a few microseconds; on a busy one, blocking soon
/// leaves the core to whoever has work.
pub(super) const SPIN: Duration = Duration::from_micros(50);

/// Step 3's inputs for one batch.
#[derive(Clone)]
pub(super) struct Backward {
    pub(super) scalars: StepScalars,
    /// Gradient of the loss with respect to the second layer's output (`rows x outputs`),
    /// or the first layer's logits.
    pub(super) delta_out: Arc<Vec<f32>>,
    /// The batch's columns, every shard's share in shard order.
    pub(super) parts: Vec<Arc<BatchPart>>,
}

/// What a helper thread does next: step 3 of one batch and/or step 1 of the next.
pub(super) struct Job {
    pub(super) backward: Option<Backward>,
    pub(super) forward: Option<usize>,
    /// The buffer the helper last handed over, for reuse.
    pub(super) out: Vec<f32>,
}

/// What a helper thread hands back after a job: its step-1 output and its share of the
/// batch's columns.
pub(super) type Done = (Vec<f32>, Arc<BatchPart>);

/// The calling thread's end of a helper thread.
pub(super) struct Link {
    pub(super) jobs: Sender<Job>,
    pub(super) done: Receiver<Done>,
    pub(super) out: Vec<f32>,
    pub(super) part: Arc<BatchPart>,
}

/// Receives from `channel`, spinning for up to [`SPIN`] before blocking.
pub(super) fn receive<T>(channel: &Receiver<T>) -> std::result::Result<T, RecvError> {
    let started = Instant::now();
    let mut spins = 0u32;
    loop {
        match channel.try_recv() {
            Ok(value) => return Ok(value),
            Err(TryRecvError::Disconnected) => return Err(RecvError),
            Err(TryRecvError::Empty) => {}
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(64) && started.elapsed() > SPIN {
            return channel.recv();
        }
        std::hint::spin_loop();
    }
}

/// A helper thread: runs jobs on its shard until the calling thread hangs up.
pub(super) fn helper(
    shard: &mut Shard,
    context: &Context<'_>,
    jobs: Receiver<Job>,
    done: Sender<Done>,
) {
    while let Ok(job) = receive(&jobs) {
        shard.out = job.out;
        if let Some(backward) = job.backward {
            shard.backward(context, &backward);
        }
        let part = match job.forward {
            Some(batch) => shard.forward(context, batch),
            None => Arc::default(),
        };
        if done.send((std::mem::take(&mut shard.out), part)).is_err() {
            return;
        }
    }
}
