//! Everything the host checks before a backend sees it, with one set of error words: the
//! architecture, each dataset against the model, the fit options (backends trust what
//! passes, see `crate::backend`); and, after training, whether the model learned anything.

use tinymlp::Activation;

use super::{Dense, FitOptions, History};
use crate::backend::{MAX_BATCH, MAX_INPUTS};
use crate::data::{Dataset, InputTransform, Inputs};
use crate::error::{Error, Result};
use crate::network::Parameters;

/// Most classes a model may have: labels are bytes on the host and on every backend.
const MAX_CLASSES: usize = 256;

/// The layer sizes `[inputs, hidden..., classes]` of a stack the format and every backend
/// can run: ReLU hidden layers, a softmax last layer, widths within the format's limits.
pub(super) fn architecture(inputs: usize, layers: &[Dense]) -> Result<Vec<usize>> {
    let Some((last, hidden)) = layers.split_last() else {
        return Err(Error::Config("the model has no layers".into()));
    };
    if hidden.iter().any(|l| l.activation != Activation::Relu) {
        return Err(Error::Config("hidden layers must use ReLU".into()));
    }
    if last.activation != Activation::Softmax {
        return Err(Error::Config(
            "the last layer must use softmax (with categorical cross-entropy)".into(),
        ));
    }
    let sizes: Vec<usize> = std::iter::once(inputs)
        .chain(layers.iter().map(|l| l.units))
        .collect();
    let widest = (tinymlp::MAX_WIDTH as usize).min(MAX_INPUTS);
    if sizes.iter().any(|&s| s == 0 || s > widest) {
        return Err(Error::Config(format!(
            "layer sizes must be 1..={widest} (the model format's limit), got {sizes:?}"
        )));
    }
    if last.units > MAX_CLASSES {
        return Err(Error::Config(format!(
            "at most {MAX_CLASSES} classes (labels are bytes), got {}",
            last.units
        )));
    }
    if layers.len() > tinymlp::MAX_LAYERS {
        return Err(Error::Config(format!(
            "at most {} layers fit the model format, got {}",
            tinymlp::MAX_LAYERS,
            layers.len()
        )));
    }
    Ok(sizes)
}

/// `data` fits a model of layer sizes `sizes`: as many inputs, every label a class, and
/// (its fields being public) consistent: as many inputs as samples need, features finite.
pub(super) fn dataset(data: &Dataset, sizes: &[usize]) -> Result<()> {
    let (inputs, classes) = (sizes[0], sizes[sizes.len() - 1]);
    let stored = match &data.inputs {
        Inputs::Pixels { images, .. } => images.len(),
        Inputs::Features { values, .. } => values.len(),
    };
    if stored != data.len() * data.width() {
        return Err(Error::Config(format!(
            "the data holds {stored} input values for {} samples of {}",
            data.len(),
            data.width()
        )));
    }
    if let Inputs::Features { values, .. } = &data.inputs {
        if let Some(at) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Config(format!(
                "input {} of sample {} is {}: features must be finite",
                at % data.width(),
                at / data.width(),
                values[at]
            )));
        }
    }
    if data.width() != inputs {
        return Err(Error::Config(format!(
            "the model takes {inputs} inputs but the data has {} per sample",
            data.width()
        )));
    }
    if let Some(at) = data.labels.iter().position(|&l| usize::from(l) >= classes) {
        return Err(Error::Config(format!(
            "label {} of sample {at} does not fit a model with {classes} classes",
            data.labels[at]
        )));
    }
    Ok(())
}

/// `input` is usable and fits a model of layer sizes `sizes`.
pub(super) fn input(input: &InputTransform, sizes: &[usize]) -> Result<()> {
    input.check()?;
    if input.width() != sizes[0] {
        return Err(Error::Config(format!(
            "the model takes {} inputs but its input transform reads {}",
            sizes[0],
            input.width()
        )));
    }
    Ok(())
}

/// The layer sizes of given parameters, checked as [`architecture`] checks a new model's,
/// with every layer's arrays of the sizes its shape says and every value finite.
pub(super) fn parameters(parameters: &Parameters) -> Result<Vec<usize>> {
    let Some(first) = parameters.layers.first() else {
        return Err(Error::Config("the model has no layers".into()));
    };
    let mut layers = Vec::with_capacity(parameters.layers.len());
    let mut inputs = first.inputs;
    for (l, layer) in parameters.layers.iter().enumerate() {
        if layer.inputs != inputs {
            return Err(Error::Config(format!(
                "layer {l} takes {} inputs but the layer before gives {inputs}",
                layer.inputs
            )));
        }
        if layer.weights.len() != layer.inputs * layer.outputs || layer.bias.len() != layer.outputs
        {
            return Err(Error::Config(format!(
                "layer {l} of {}x{} holds {} weights and {} biases",
                layer.inputs,
                layer.outputs,
                layer.weights.len(),
                layer.bias.len()
            )));
        }
        if layer
            .weights
            .iter()
            .chain(&layer.bias)
            .any(|v| !v.is_finite())
        {
            return Err(Error::Config(format!(
                "layer {l} holds a parameter that is not finite"
            )));
        }
        let last = l + 1 == parameters.layers.len();
        layers.push(if last {
            Dense::softmax(layer.outputs)
        } else {
            Dense::relu(layer.outputs)
        });
        inputs = layer.outputs;
    }
    architecture(first.inputs, &layers)
}

/// The options of `fit`, each within its range.
pub(super) fn fit_options(options: &FitOptions) -> Result<()> {
    if !(1..=MAX_BATCH).contains(&options.batch_size) {
        return Err(Error::Config(format!(
            "batch size must be 1..={MAX_BATCH}, got {}",
            options.batch_size
        )));
    }
    if !(0.0..1.0).contains(&options.validation_split) {
        return Err(Error::Config(format!(
            "validation split must be in [0, 1), got {}",
            options.validation_split
        )));
    }
    Ok(())
}

/// Why a trained model is no better than guessing, given its test loss and accuracy on
/// `test_data`, if it is not: a test loss no lower
/// than a uniform guess's (`ln classes`), a test accuracy no higher than always answering
/// the commonest class, or a training loss that ended ten times above its first epoch's.
/// Such a run must not replace a good model (issue: a learning rate of 1e6 "succeeded").
pub fn no_better_than_guessing(
    history: &History,
    (test_loss, test_accuracy): (f32, f32),
    test_data: &Dataset,
) -> Option<String> {
    let classes = test_data.classes.max(2);
    let uniform = (classes as f32).ln();
    if !test_loss.is_finite() || test_loss >= uniform {
        return Some(format!(
            "the test loss {} is no better than a uniform guess's ({uniform:.4} for {classes} \
             classes)",
            test_loss
        ));
    }
    let mut counts = vec![0usize; classes];
    for &label in &test_data.labels {
        if let Some(count) = counts.get_mut(usize::from(label)) {
            *count += 1;
        }
    }
    let commonest =
        counts.iter().copied().max().unwrap_or(0) as f32 / test_data.len().max(1) as f32;
    if test_accuracy <= commonest {
        return Some(format!(
            "the test accuracy {:.4} is no better than always answering the commonest class \
             ({commonest:.4})",
            test_accuracy
        ));
    }
    if let (Some(first), Some(last)) = (history.epochs.first(), history.epochs.last()) {
        if last.loss > 10.0 * first.loss {
            return Some(format!(
                "the training loss rose from {} (epoch {}) to {} (epoch {})",
                first.loss, first.epoch, last.loss, last.epoch
            ));
        }
    }
    None
}
