//! What both builds log about one model's pass over its test inputs: each miss, every
//! prediction, then the accuracy, the digest of all raw outputs, the peak stack and the cost
//! per inference. `tests/tests/firmware_qemu.rs` parses these lines: keep their format.

use tinymlp::{Model, OutputDigest, Prediction};

use crate::{board, stack};

/// Predictions are logged in lines of this many classes.
const LINE: usize = 50;

/// Counts and logs the predictions of `model` for `count` inputs, handed over in order.
pub struct Tally<'m> {
    model: &'m Model<'m>,
    count: usize,
    digest: OutputDigest,
    correct: usize,
    total_cost: u64,
    min_cost: u32,
    max_cost: u32,
    /// The classes of the line of predictions not logged yet.
    line: [u8; LINE],
}

impl<'m> Tally<'m> {
    pub fn new(model: &'m Model<'m>, count: usize) -> Self {
        Tally {
            model,
            count,
            digest: OutputDigest::new(),
            correct: 0,
            total_cost: 0,
            min_cost: u32::MAX,
            max_cost: 0,
            line: [0; LINE],
        }
    }

    /// Adds the prediction for input `index` (0, 1, 2, ...), whose true class is `label`;
    /// `cost`: the inference's, in [`board::COST_UNIT`]. Logs a miss, and the line of
    /// predictions once it is full or this is the last input. Out of line, so that its
    /// locals are not in the caller's frame, which is on the stack during inference.
    #[inline(never)]
    pub fn record(&mut self, index: usize, label: u8, prediction: &Prediction<'_>, cost: u32) {
        self.digest.add(prediction);
        self.total_cost += u64::from(cost);
        self.min_cost = self.min_cost.min(cost);
        self.max_cost = self.max_cost.max(cost);
        let class = prediction.class as u8;
        if class == label {
            self.correct += 1;
        } else {
            self.log_miss(index, label, class, prediction.probability);
        }
        let column = index % LINE;
        if let Some(slot) = self.line.get_mut(column) {
            *slot = class;
        }
        if column == LINE - 1 || index + 1 == self.count {
            let classes = self.line.get(..=column).unwrap_or(&[]);
            defmt::println!("predictions {=usize}: {=[u8]}", index - column, classes);
        }
    }

    /// Logs the accuracy, the digest, the peak stack since the caller last painted it
    /// (`load_stack`: the peak while loading the model) and the cost per inference. Out of
    /// line for the same reason as [`Tally::record`].
    #[inline(never)]
    pub fn finish(self, load_stack: usize) {
        let count = self.count.max(1);
        defmt::println!(
            "accuracy: {=usize}/{=usize} ({=f32} %)",
            self.correct,
            self.count,
            self.correct as f32 * 100.0 / count as f32
        );
        defmt::println!("digest: {=u32}", self.digest.finish());
        defmt::println!(
            "stack: peak {=usize} bytes during inference (scratch buffer and model included), {=usize} while loading",
            stack::peak(),
            load_stack
        );
        let mean = self.total_cost / count as u64;
        defmt::println!(
            "cost per inference: mean {=u64} min {=u32} max {=u32} {=str}; {=f32} per MAC",
            mean,
            self.min_cost,
            self.max_cost,
            board::COST_UNIT,
            mean as f32 / self.model.macs().max(1) as f32
        );
    }

    /// A misclassified input, by class name when the model names its classes.
    fn log_miss(&self, index: usize, label: u8, class: u8, probability: f32) {
        let names = (
            self.model.class_name(usize::from(label)),
            self.model.class_name(usize::from(class)),
        );
        if let (Some(label_name), Some(class_name)) = names {
            defmt::println!(
                "miss {=usize}: label {=str} predicted {=str} p={=f32}",
                index,
                label_name,
                class_name,
                probability
            );
        } else {
            defmt::println!(
                "miss {=usize}: label {=u8} predicted {=u8} p={=f32}",
                index,
                label,
                class,
                probability
            );
        }
    }
}
