//! `trainer show`: a digit in the terminal, as the tutorial's `plt.imshow(train_images[4])`.

use crate::data::Dataset;
use crate::error::Result;
use crate::export::Predictor;

/// Shades from light to dark, one character per pixel (printed twice for a square look).
const SHADES: [char; 5] = [' ', '░', '▒', '▓', '█'];

/// The image at `index` as text, with its label and, given a blob, the model's prediction.
pub fn render(data: &Dataset, index: usize, blob: Option<&[u8]>) -> Result<String> {
    let mut out = String::new();
    for row in data.image(index).chunks(data.cols) {
        for &p in row {
            let shade = SHADES[(usize::from(p) * SHADES.len() / 256).min(SHADES.len() - 1)];
            out.push(shade);
            out.push(shade);
        }
        out.push('\n');
    }
    out.push_str(&format!("image {index}: label {}\n", data.labels[index]));
    if let Some(blob) = blob {
        let mut predictor = Predictor::new(blob)?;
        let kind = predictor.model().kind();
        let (class, probability) = predictor.predict(data.image(index))?;
        out.push_str(&format!(
            "model ({kind}): predicts {class} with probability {probability:.3}\n"
        ));
    }
    Ok(out)
}
