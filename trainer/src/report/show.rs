//! `trainer show`: a digit in the terminal, as the tutorial's `plt.imshow(train_images[4])`
//! (or a sample's features, one a line).

use crate::data::{Dataset, Inputs};
use crate::error::{Error, Result};
use crate::export::Predictor;

/// Shades from light to dark, one character per pixel (printed twice for a square look).
const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];

/// Sample `index` as text (an image drawn, or features listed), with its label (and class
/// name) and, given a blob, the model's prediction.
pub fn render(data: &Dataset, index: usize, blob: Option<&[u8]>) -> Result<String> {
    let Some(&label) = data.labels.get(index) else {
        return Err(Error::Config(format!(
            "sample {index} out of range: {} samples",
            data.len()
        )));
    };
    let mut out = String::new();
    match &data.inputs {
        Inputs::Pixels { cols, .. } => {
            for row in data.image(index).unwrap_or_default().chunks((*cols).max(1)) {
                for &p in row {
                    let shade = SHADES[(usize::from(p) * SHADES.len() / 256).min(SHADES.len() - 1)];
                    out.push(shade);
                    out.push(shade);
                }
                out.push('\n');
            }
        }
        Inputs::Features { columns, .. } => {
            let values = data.features(index).unwrap_or_default();
            for (name, value) in columns.iter().zip(values) {
                out.push_str(&format!("{name} = {value}\n"));
            }
        }
    }
    let what = match data.inputs {
        Inputs::Pixels { .. } => "image",
        Inputs::Features { .. } => "sample",
    };
    out.push_str(&format!("{what} {index}: label {}", label));
    if !data.class_names.is_empty() {
        out.push_str(&format!(" ({})", data.class_name(usize::from(label))));
    }
    out.push('\n');
    if let Some(blob) = blob {
        let mut predictor = Predictor::new(blob)?;
        let kind = predictor.model().kind();
        let (class, probability) = predictor.predict_sample(data, index)?;
        let name = if data.class_names.is_empty() {
            String::new()
        } else {
            format!(" ({})", data.class_name(class))
        };
        out.push_str(&format!(
            "model ({kind}): predicts {class}{name} with probability {probability:.3}\n"
        ));
    }
    Ok(out)
}
