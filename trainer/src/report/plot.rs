//! PNG plots with plotters: loss and accuracy per epoch, and the confusion matrix.
//!
//! Text is drawn by plotters' pure-Rust `ab_glyph` renderer with DejaVu Sans embedded by
//! the `dejavu` crate, so no system fonts or fontconfig are needed.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::training::History;

static REGISTER_FONT: Once = Once::new();

fn register_font() {
    REGISTER_FONT.call_once(|| {
        // A font that fails to parse leaves text undrawn; the plot itself still renders.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn err<E: std::fmt::Display>(e: E) -> Error {
    Error::Report(format!("plot: {e}"))
}

const SIZE: (u32, u32) = (720, 480);

/// Writes `loss.png` and `accuracy.png` (training and, if any, validation curves).
pub fn history_plots(history: &History, out_dir: &Path) -> Result<()> {
    register_font();
    let epochs: Vec<f64> = history.epochs.iter().map(|e| e.epoch as f64).collect();
    let series = |f: &dyn Fn(&crate::EpochRecord) -> Option<f32>| -> Vec<(f64, f64)> {
        history
            .epochs
            .iter()
            .filter_map(|e| f(e).map(|v| (e.epoch as f64, f64::from(v))))
            .collect()
    };
    type Points = Vec<(f64, f64)>;
    let plots: [(&str, &str, Points, Points); 2] = [
        (
            "loss.png",
            "loss",
            series(&|e| Some(e.loss)),
            series(&|e| e.val_loss),
        ),
        (
            "accuracy.png",
            "accuracy",
            series(&|e| Some(e.accuracy)),
            series(&|e| e.val_accuracy),
        ),
    ];
    let last_epoch = epochs.last().copied().unwrap_or(1.0).max(2.0);
    for (file, name, train, validation) in plots {
        let values = train.iter().chain(&validation).map(|p| p.1);
        let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
            (l.min(v), h.max(v))
        });
        let (low, high) = if low.is_finite() {
            (low, high)
        } else {
            (0.0, 1.0)
        };
        let pad = ((high - low) * 0.1).max(1e-3);
        let mut pixels = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(format!("model {name}"), ("sans-serif", 24))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(1.0..last_epoch, (low - pad)..(high + pad))
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc(name)
                .draw()
                .map_err(err)?;
            for (points, color, label) in
                [(&train, BLUE, "train"), (&validation, RED, "validation")]
            {
                if points.is_empty() {
                    continue;
                }
                chart
                    .draw_series(LineSeries::new(
                        points.iter().copied(),
                        color.stroke_width(2),
                    ))
                    .map_err(err)?
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(err)?;
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(err)?;
            root.present().map_err(err)?;
        }
        write_png(&out_dir.join(file), &pixels, SIZE)?;
    }
    Ok(())
}

/// Writes `confusion.png`: counts per (true label, predicted class), darker is more.
pub fn confusion_plot(matrix: &[Vec<u32>], out_dir: &Path) -> Result<()> {
    register_font();
    let classes = matrix.len();
    let size = (640u32, 640u32);
    let mut pixels = vec![0u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("confusion matrix (test set)", ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(40)
            // Plotters' integer ranges include their end: 0..classes-1 is one segment a class.
            .build_cartesian_2d(
                (0..classes as i32 - 1).into_segmented(),
                (0..classes as i32 - 1).into_segmented(),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true label")
            .x_labels(classes)
            .y_labels(classes)
            // Row 0 at the top, as confusion matrices are usually printed.
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(y) if (0..classes as i32).contains(y) => {
                    (classes as i32 - 1 - y).to_string()
                }
                _ => String::new(),
            })
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(x) if (0..classes as i32).contains(x) => x.to_string(),
                _ => String::new(),
            })
            .draw()
            .map_err(err)?;
        let max = matrix.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
        for (t, row) in matrix.iter().enumerate() {
            for (p, &count) in row.iter().enumerate() {
                // Square root so that the few off-diagonal errors stay visible.
                let shade = (f64::from(count) / max).sqrt();
                let color = RGBColor(
                    (255.0 * (1.0 - shade)) as u8,
                    (255.0 * (1.0 - 0.6 * shade)) as u8,
                    255,
                );
                let y = (classes - 1 - t) as i32;
                let p = p as i32;
                let cell = [
                    (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                ];
                chart
                    .draw_series(std::iter::once(Rectangle::new(cell, color.filled())))
                    .map_err(err)?;
                let text_color = if shade > 0.5 { WHITE } else { BLACK };
                chart
                    .draw_series(std::iter::once(Text::new(
                        count.to_string(),
                        (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                        ("sans-serif", 14)
                            .into_font()
                            .color(&text_color)
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    )))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    write_png(&out_dir.join("confusion.png"), &pixels, size)
}

fn write_png(path: &Path, rgb: &[u8], (width, height): (u32, u32)) -> Result<()> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(err)?;
        writer.write_image_data(rgb).map_err(err)?;
    }
    write_atomic(path, &bytes)
}
