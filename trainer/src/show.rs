//! `trainer show`: a digit in the terminal, as the tutorial's `plt.imshow(train_images[4])`.

use crate::data::Dataset;
use crate::error::Result;

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
        let model = tinymlp::Model::from_bytes(blob)?;
        let prediction = match model.kind() {
            tinymlp::ParamKind::Int8 => {
                let mut scratch = Box::new(tinymlp::Int8Scratch::<4096, 256>::new());
                let p = model.predict(data.image(index), scratch.as_mut())?;
                (p.class, p.probability)
            }
            tinymlp::ParamKind::F32 => {
                let mut scratch = Box::new(tinymlp::F32Scratch::<4096, 256>::new());
                let p = model.predict(data.image(index), scratch.as_mut())?;
                (p.class, p.probability)
            }
        };
        out.push_str(&format!(
            "model ({}): predicts {} with probability {:.3}\n",
            model.kind(),
            prediction.0,
            prediction.1
        ));
    }
    Ok(out)
}
