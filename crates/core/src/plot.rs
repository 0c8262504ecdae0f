//! Line and bar plots to PNG (plotters with an embedded DejaVu Sans font, so no
//! system font stack is needed; encoded with the `image` crate).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::{Error, Result};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The font is compiled in and known to be valid; a failure would only mean
        // plots without text, so it is ignored.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// A named series of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

impl Series {
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// One bar, optionally with a ± error.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub err: Option<f64>,
}

const W: u32 = 900;
const H: u32 = 560;

fn palette(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    C[i % C.len()]
}

fn plot_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::invalid(format!("plotting failed: {e:?}"))
}

fn save_png(path: &Path, buf: Vec<u8>) -> Result<()> {
    let img =
        image::RgbImage::from_raw(W, H, buf).ok_or_else(|| Error::invalid("bad plot buffer"))?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::format(path, e.to_string()))?;
    crate::fsio::write_atomic(path, &out.into_inner())
}

fn range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

/// Draw `series` as lines with a legend and write a PNG to `path`.
pub fn line_plot(
    path: impl AsRef<Path>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    if series.iter().all(|s| s.points.is_empty()) {
        return Err(Error::invalid(format!("line plot '{title}' has no points")));
    }
    register_font();
    let (x0, x1) = range(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (y0, y1) = range(series.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        for (i, s) in series.iter().enumerate() {
            let c = palette(i);
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .collect();
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(2)))
                .map_err(plot_err)?
                .label(s.name.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    save_png(path.as_ref(), buf)
}

/// Draw a bar chart (with ± error whiskers where given) and write a PNG to `path`.
pub fn bar_plot(path: impl AsRef<Path>, title: &str, y_label: &str, bars: &[Bar]) -> Result<()> {
    if bars.is_empty() {
        return Err(Error::invalid(format!("bar plot '{title}' has no bars")));
    }
    register_font();
    let hi = bars
        .iter()
        .map(|b| b.value + b.err.unwrap_or(0.0))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let lo = bars
        .iter()
        .map(|b| b.value - b.err.unwrap_or(0.0))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::min);
    let top = if hi - lo > 0.0 {
        hi + 0.08 * (hi - lo)
    } else {
        1.0
    };
    let n = bars.len();
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(60)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..n as f64, lo..top)
            .map_err(plot_err)?;
        let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc(y_label)
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 1e-6 && i < labels.len() {
                    labels[i].clone()
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        for (i, b) in bars.iter().enumerate() {
            let x = i as f64;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x + 0.15, 0.0), (x + 0.85, b.value)],
                    palette(i).filled(),
                )))
                .map_err(plot_err)?;
            if let Some(e) = b.err {
                let (a, z) = (b.value - e, b.value + e);
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x + 0.5, a), (x + 0.5, z)],
                        BLACK.stroke_width(2),
                    )))
                    .map_err(plot_err)?;
                for y in [a, z] {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(x + 0.4, y), (x + 0.6, y)],
                            BLACK.stroke_width(2),
                        )))
                        .map_err(plot_err)?;
                }
            }
        }
        root.present().map_err(plot_err)?;
    }
    save_png(path.as_ref(), buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_write_png() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.png");
        line_plot(
            &p,
            "t",
            "x",
            "y",
            &[
                Series::new("a", vec![(0.0, 1.0), (1.0, 2.0)]),
                Series::new("b", vec![(0.0, 0.5), (1.0, 0.0)]),
            ],
        )
        .unwrap();
        let img = image::open(&p).unwrap();
        assert_eq!((img.width(), img.height()), (W, H));
        let b = dir.path().join("b.png");
        bar_plot(
            &b,
            "bars",
            "acc",
            &[
                Bar {
                    label: "x".into(),
                    value: 0.5,
                    err: Some(0.1),
                },
                Bar {
                    label: "y".into(),
                    value: 0.7,
                    err: None,
                },
            ],
        )
        .unwrap();
        assert!(b.exists());
        assert!(line_plot(dir.path().join("e.png"), "e", "x", "y", &[]).is_err());
        assert!(bar_plot(dir.path().join("e.png"), "e", "y", &[]).is_err());
    }
}

/// One panel of [`scatter_panels`]: a title and named point sets, each drawn as
/// small dots in its own colour (later sets on top).
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub sets: Vec<Series>,
}

/// Draw side-by-side scatter panels sharing one aspect-preserving range (e.g. 2-D
/// projections of point clouds) with a legend per panel, and write a PNG to `path`.
pub fn scatter_panels(path: impl AsRef<Path>, title: &str, panels: &[Panel]) -> Result<()> {
    if panels.is_empty()
        || panels
            .iter()
            .all(|p| p.sets.iter().all(|s| s.points.is_empty()))
    {
        return Err(Error::invalid(format!(
            "scatter plot '{title}' has no points"
        )));
    }
    register_font();
    let all = || {
        panels
            .iter()
            .flat_map(|p| p.sets.iter().flat_map(|s| s.points.iter().copied()))
    };
    let (x0, x1) = range(all().map(|p| p.0));
    let (y0, y1) = range(all().map(|p| p.1));
    // Same half-width on both axes so shapes keep their proportions.
    let half = ((x1 - x0).max(y1 - y0)) / 2.0;
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root.titled(title, ("sans-serif", 22)).map_err(plot_err)?;
        let areas = root.split_evenly((1, panels.len()));
        for (panel, area) in panels.iter().zip(areas) {
            let mut chart = ChartBuilder::on(&area)
                .caption(&panel.title, ("sans-serif", 16))
                .margin(8)
                .build_cartesian_2d(cx - half..cx + half, cy - half..cy + half)
                .map_err(plot_err)?;
            for (i, s) in panel.sets.iter().enumerate() {
                let c = palette(i);
                let pts = s
                    .points
                    .iter()
                    .copied()
                    .filter(|p| p.0.is_finite() && p.1.is_finite());
                let r = if i == 0 { 1 } else { 2 };
                chart
                    .draw_series(pts.map(|p| Circle::new(p, r, c.filled())))
                    .map_err(plot_err)?
                    .label(s.name.clone())
                    .legend(move |(x, y)| Circle::new((x + 6, y), 4, c.filled()));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 12))
                .position(SeriesLabelPosition::LowerLeft)
                .draw()
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    save_png(path.as_ref(), buf)
}

#[cfg(test)]
mod scatter_tests {
    use super::*;

    #[test]
    fn scatter_panels_writes_a_png_and_rejects_empty_input() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.png");
        let circle: Vec<(f64, f64)> = (0..50)
            .map(|i| {
                let a = i as f64 / 50.0 * std::f64::consts::TAU;
                (a.cos(), a.sin())
            })
            .collect();
        let panels = [
            Panel {
                title: "a".into(),
                sets: vec![Series::new("kept", circle.clone())],
            },
            Panel {
                title: "b".into(),
                sets: vec![
                    Series::new("kept", circle),
                    Series::new("removed", vec![(2.0, 2.0)]),
                ],
            },
        ];
        scatter_panels(&p, "test", &panels).unwrap();
        let img = image::open(&p).unwrap();
        assert_eq!((img.width(), img.height()), (W, H));
        assert!(scatter_panels(&p, "empty", &[]).is_err());
    }
}
