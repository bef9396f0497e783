//! Keras-style progress on stderr: a bar during an epoch, then its summary line.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::EpochRecord;

pub(super) fn progress_bar(batches: usize) -> ProgressBar {
    let bar = ProgressBar::new(batches as u64);
    let style = ProgressStyle::with_template("{pos:>4}/{len} [{bar:30}] - {elapsed} {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// `469/469 - 1s - 2ms/step - accuracy: 0.9252 - loss: 0.2585 - val_...`, as Keras prints.
pub fn epoch_line(record: &EpochRecord, batches: usize) -> String {
    let per_step = Duration::from_secs_f64(record.seconds / batches.max(1) as f64);
    let mut line = format!(
        "{batches}/{batches} - {:.2}s - {:.2}ms/step - accuracy: {:.4} - loss: {:.4}",
        record.seconds,
        per_step.as_secs_f64() * 1e3,
        record.accuracy,
        record.loss
    );
    if let (Some(accuracy), Some(loss)) = (record.val_accuracy, record.val_loss) {
        line.push_str(&format!(
            " - val_accuracy: {accuracy:.4} - val_loss: {loss:.4}"
        ));
    }
    line
}
