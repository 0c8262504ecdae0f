//! Line and bar plots to PNG (plotters with an embedded DejaVu Sans font, so no
//! system font stack is needed; encoded with the `image` crate).

use std::path::Path;
use std::sync::Once;

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, FontTransform};

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

/// The spacing of the ticks plotters puts on an axis from `lo` to `hi` with at most
/// `max_ticks` labels: the smallest 1, 2 or 5 times a power of ten that gives no more
/// than `max_ticks` ticks (plotters' own rule, so the labels can be rounded to it).
fn tick_step(lo: f64, hi: f64, max_ticks: usize) -> f64 {
    let span = (hi - lo).abs();
    if !span.is_finite() || span <= 0.0 || max_ticks < 2 {
        return 1.0;
    }
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    let mut p = 10f64.powf(span.log10().floor() - 1.0);
    loop {
        for m in [1.0, 2.0, 5.0] {
            let step = m * p;
            // Ticks at the multiples of `step` inside the range.
            let n = (hi / step + 1e-9).floor() - (lo / step - 1e-9).ceil() + 1.0;
            if n <= max_ticks as f64 {
                return step;
            }
        }
        p *= 10.0;
    }
}

/// An axis tick label for `v` on an axis whose ticks are `step` apart: rounded to the
/// step's decimals (so float noise such as `-1.4e-17` prints as `0`), trailing zeros
/// dropped, never `-0`; scientific notation only for very large or very small steps.
fn tick_label(v: f64, step: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let step = if step.is_finite() && step > 0.0 {
        step
    } else {
        v.abs().max(1.0)
    };
    if v.abs() < 1e-6 * step {
        return "0".into();
    }
    if v.abs() >= 1e6 || step < 1e-4 {
        let s = format!("{v:.2e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        return format!("{m}e{e}");
    }
    // Decimals the step needs (0.05 → 2, 0.2 → 1, 5 → 0), with a little tolerance.
    let decimals = (-(step.log10() - 1e-9).floor()).max(0.0) as usize;
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s.chars().all(|c| matches!(c, '-' | '0' | '.')) {
        "0".into()
    } else {
        s
    }
}

/// The most labels per axis (plotters' mesh default, set explicitly so the formatter
/// and the mesh agree on the tick step).
const MAX_TICKS: usize = 10;

/// Label count and step for an x axis over `xs` (range `lo..hi`): when every x is an
/// integer (clicks, epochs, seeds) the ticks are too (step at least 1).
fn x_ticks(lo: f64, hi: f64, all_integer: bool) -> (usize, f64) {
    if all_integer {
        let n = ((hi - lo).floor() as usize + 1).clamp(2, MAX_TICKS);
        (n, tick_step(lo, hi, n).max(1.0))
    } else {
        (MAX_TICKS, tick_step(lo, hi, MAX_TICKS))
    }
}

fn all_integer(mut xs: impl Iterator<Item = f64>) -> bool {
    xs.all(|x| !x.is_finite() || x.fract() == 0.0)
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
    let (nx, xstep) = x_ticks(
        x0,
        x1,
        all_integer(series.iter().flat_map(|s| s.points.iter().map(|p| p.0))),
    );
    let ystep = tick_step(y0, y1, MAX_TICKS);
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
            .x_labels(nx)
            .y_labels(MAX_TICKS)
            .x_label_formatter(&|v| tick_label(*v, xstep))
            .y_label_formatter(&|v| tick_label(*v, ystep))
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

/// Draw a bar chart (with ± error whiskers where given) and write a PNG to `path`: one
/// bar per label in one colour (a [`grouped_bar_plot`] with a single variant).
pub fn bar_plot(path: impl AsRef<Path>, title: &str, y_label: &str, bars: &[Bar]) -> Result<()> {
    if bars.is_empty() {
        return Err(Error::invalid(format!("bar plot '{title}' has no bars")));
    }
    let plot = GroupedBars {
        title: title.to_string(),
        y_label: y_label.to_string(),
        variants: vec![String::new()],
        groups: bars
            .iter()
            .map(|b| BarGroup {
                label: b.label.clone(),
                bars: vec![BarValue {
                    value: b.value,
                    interval: b.err.map(|e| [b.value - e, b.value + e]),
                }],
            })
            .collect(),
        y_range: None,
        references: Vec::new(),
    };
    grouped_bar_plot(path, &plot)
}

/// One bar of a [`GroupedBars`]: a value (NaN = not run, no bar) and an optional
/// interval drawn as a whisker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarValue {
    pub value: f64,
    pub interval: Option<[f64; 2]>,
}

impl BarValue {
    pub fn new(value: f64, interval: Option<[f64; 2]>) -> Self {
        Self { value, interval }
    }
}

/// One group of bars (an attack, a method, a task): one bar per variant, in the
/// order of [`GroupedBars::variants`].
#[derive(Debug, Clone, PartialEq)]
pub struct BarGroup {
    pub label: String,
    pub bars: Vec<BarValue>,
}

/// A labelled horizontal reference line on a [`GroupedBars`] (chance at 0.5, a claimed
/// threshold, zero difference), across every group or only over some of them (a
/// control's own threshold over that control's bar).
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub value: f64,
    /// Printed on the line (at its right end) and in the legend.
    pub label: String,
    /// The groups (indices into [`GroupedBars::groups`]) the line spans; None = all.
    pub groups: Option<std::ops::Range<usize>>,
}

impl Reference {
    /// A line at `value` across every group.
    pub fn new(value: f64, label: impl Into<String>) -> Self {
        Self {
            value,
            label: label.into(),
            groups: None,
        }
    }

    /// The same line spanning only `groups`.
    pub fn over_groups(mut self, groups: std::ops::Range<usize>) -> Self {
        self.groups = Some(groups);
        self
    }
}

/// Colour of the i-th reference line (dark, distinct from the bar palette).
fn reference_colour(i: usize) -> RGBColor {
    const C: [RGBColor; 3] = [
        RGBColor(70, 70, 70),
        RGBColor(150, 20, 120),
        RGBColor(0, 110, 110),
    ];
    C[i % C.len()]
}

/// A grouped bar plot: groups along x, one colour per variant (defense, model), a
/// legend of the variants above the plot, interval whiskers, and x labels that are
/// wrapped, shrunk or turned upright so that they never overlap.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedBars {
    pub title: String,
    pub y_label: String,
    /// Variant names (legend entries); a single unnamed variant hides the legend.
    pub variants: Vec<String>,
    pub groups: Vec<BarGroup>,
    /// Fixed y range (e.g. (0, 1) for accuracies); by default from the data and 0.
    pub y_range: Option<(f64, f64)>,
    /// Labelled horizontal reference lines (chance, a claimed threshold), dashed, each
    /// in its own colour.
    pub references: Vec<Reference>,
}

/// How the x labels are drawn: lines per label at a font size, or upright.
struct LabelLayout {
    size: u32,
    lines: Vec<Vec<String>>,
    upright: bool,
    height: u32,
}

/// Greedy word wrap of `text` into lines no wider than `max` pixels; None when one
/// word alone is wider.
fn wrap<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    text: &str,
    size: u32,
    max: u32,
) -> Option<Vec<String>> {
    let font: TextStyle = ("sans-serif", size).into_font().into();
    let width = |s: &str| area.estimate_text_size(s, &font).map_or(u32::MAX, |d| d.0);
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if width(word) > max {
            return None;
        }
        let cand = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if width(&cand) <= max {
            cur = cand;
        } else {
            lines.push(std::mem::take(&mut cur));
            cur = word.to_string();
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    Some(lines)
}

fn layout_labels<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    labels: &[String],
    slot: u32,
) -> LabelLayout {
    let max = slot.saturating_sub(8).max(8);
    for size in [15u32, 13, 11] {
        let wrapped: Option<Vec<Vec<String>>> =
            labels.iter().map(|l| wrap(area, l, size, max)).collect();
        if let Some(lines) = wrapped {
            let rows = lines.iter().map(Vec::len).max().unwrap_or(1) as u32;
            if rows <= 3 {
                return LabelLayout {
                    size,
                    height: rows * (size + 4) + 14,
                    lines,
                    upright: false,
                };
            }
        }
    }
    // Upright labels, one line each, shortened to a third of the image height.
    let size = 11u32.min(slot.saturating_sub(2).max(8));
    let font: TextStyle = ("sans-serif", size).into_font().into();
    let cap = H / 3;
    let lines: Vec<Vec<String>> = labels
        .iter()
        .map(|l| {
            let mut t = l.clone();
            while area.estimate_text_size(&t, &font).map_or(0, |d| d.0) > cap && t.len() > 1 {
                t.pop();
                while !t.is_char_boundary(t.len()) {
                    t.pop();
                }
                t = format!("{}…", t.trim_end_matches('…'));
            }
            vec![t]
        })
        .collect();
    let longest = lines
        .iter()
        .map(|l| area.estimate_text_size(&l[0], &font).map_or(0, |d| d.0))
        .max()
        .unwrap_or(0);
    LabelLayout {
        size,
        lines,
        upright: true,
        height: longest + 14,
    }
}

/// Legend rows: (colour index, text, x offset) per row, laid out within `width`.
fn legend_rows<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    names: &[String],
    width: u32,
) -> Vec<Vec<(usize, String, i32)>> {
    let font: TextStyle = ("sans-serif", 14).into_font().into();
    let mut rows: Vec<Vec<(usize, String, i32)>> = vec![Vec::new()];
    let mut x = 0i32;
    for (i, n) in names.iter().enumerate() {
        let w = area.estimate_text_size(n, &font).map_or(60, |d| d.0) as i32 + 40;
        if x > 0 && x + w > width as i32 {
            rows.push(Vec::new());
            x = 0;
        }
        if let Some(r) = rows.last_mut() {
            r.push((i, n.clone(), x));
        }
        x += w;
    }
    rows
}

/// What a legend entry shows beside its text.
enum Swatch {
    Box(RGBColor),
    Line(RGBColor),
    Dashed(RGBColor),
}

/// Height of a legend of `rows` rows drawn by [`draw_legend`].
fn legend_height(rows: usize) -> u32 {
    if rows == 0 {
        0
    } else {
        rows as u32 * 22 + 6
    }
}

/// Draw legend rows (from [`legend_rows`]) into `area`, `swatch(i)` beside entry i.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    rows: &[Vec<(usize, String, i32)>],
    margin: u32,
    swatch: impl Fn(usize) -> Swatch,
) -> Result<()> {
    let font = ("sans-serif", 14)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (r, row) in rows.iter().enumerate() {
        let y = r as i32 * 22 + 4;
        for (i, name, x) in row {
            let x = *x + margin as i32;
            let line = vec![(x, y + 8), (x + 18, y + 8)];
            match swatch(*i) {
                Swatch::Box(c) => {
                    area.draw(&Rectangle::new([(x, y + 1), (x + 16, y + 15)], c.filled()))
                }
                Swatch::Line(c) => area.draw(&PathElement::new(line, c.stroke_width(3))),
                Swatch::Dashed(c) => {
                    area.draw(&DashedPathElement::new(line, 6, 3, c.stroke_width(2)))
                }
            }
            .map_err(plot_err)?;
            area.draw(&Text::new(name.clone(), (x + 22, y + 8), font.clone()))
                .map_err(plot_err)?;
        }
    }
    Ok(())
}

/// Draw a [`GroupedBars`] and write a PNG to `path`.
pub fn grouped_bar_plot(path: impl AsRef<Path>, plot: &GroupedBars) -> Result<()> {
    let nv = plot.variants.len();
    let ng = plot.groups.len();
    if ng == 0 || nv == 0 {
        return Err(Error::invalid(format!(
            "grouped bar plot '{}' has no bars",
            plot.title
        )));
    }
    if let Some(g) = plot.groups.iter().find(|g| g.bars.len() != nv) {
        return Err(Error::invalid(format!(
            "grouped bar plot '{}': group '{}' has {} bars for {nv} variants",
            plot.title,
            g.label,
            g.bars.len()
        )));
    }
    if let Some(r) = plot.references.iter().find(|r| {
        !r.value.is_finite()
            || r.groups
                .as_ref()
                .is_some_and(|g| g.start >= g.end || g.end > ng)
    }) {
        return Err(Error::invalid(format!(
            "grouped bar plot '{}': reference '{}' at {} over groups {:?} of {ng}",
            plot.title, r.label, r.value, r.groups
        )));
    }
    register_font();
    let vals = || {
        plot.groups.iter().flat_map(|g| {
            g.bars.iter().flat_map(|b| {
                let [lo, hi] = b.interval.unwrap_or([b.value, b.value]);
                [b.value, lo, hi]
            })
        })
    };
    let (y0, y1) = match plot.y_range {
        Some(r) => r,
        None => {
            let finite = || vals().filter(|v| v.is_finite());
            let refs = || plot.references.iter().map(|r| r.value);
            let lo = finite().chain(refs()).fold(0.0f64, f64::min);
            let hi = finite().chain(refs()).fold(0.0f64, f64::max);
            let span = if hi - lo > 0.0 { hi - lo } else { 1.0 };
            (
                if lo < 0.0 { lo - 0.05 * span } else { 0.0 },
                hi + 0.08 * span,
            )
        }
    };
    let show_legend = nv > 1 || !plot.references.is_empty();
    let mut legend: Vec<String> = if nv > 1 {
        plot.variants.clone()
    } else {
        Vec::new()
    };
    let first_ref = legend.len();
    legend.extend(plot.references.iter().map(|r| r.label.clone()));
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root
            .titled(&plot.title, ("sans-serif", 22))
            .map_err(plot_err)?;
        let margin = 16u32;
        let rows = if show_legend {
            legend_rows(&root, &legend, W - 2 * margin)
        } else {
            Vec::new()
        };
        let legend_h = legend_height(rows.len());
        let (legend_area, chart_area) = root.split_vertically(legend_h);
        // Slot width per group, from the plot width the chart will have.
        let y_area = 70u32;
        let plot_w = W - 2 * margin - y_area;
        let layout = layout_labels(
            &chart_area,
            &plot
                .groups
                .iter()
                .map(|g| g.label.clone())
                .collect::<Vec<_>>(),
            plot_w / ng as u32,
        );
        let ystep = tick_step(y0, y1, MAX_TICKS);
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(margin)
            .margin_top(6)
            .x_label_area_size(layout.height)
            .y_label_area_size(y_area)
            .build_cartesian_2d(0f64..ng as f64, y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .x_label_formatter(&|_| String::new())
            .y_desc(&plot.y_label)
            .y_labels(MAX_TICKS)
            .y_label_formatter(&|v| tick_label(*v, ystep))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        // Bars and whiskers.
        let slot = 0.8 / nv as f64;
        for (g, group) in plot.groups.iter().enumerate() {
            for (v, b) in group.bars.iter().enumerate() {
                if !b.value.is_finite() {
                    continue;
                }
                let x0 = g as f64 + 0.1 + v as f64 * slot;
                let (xa, xb) = (x0 + 0.06 * slot, x0 + 0.94 * slot);
                let base = 0f64.clamp(y0, y1);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(xa, base), (xb, b.value.clamp(y0, y1))],
                        palette(v).filled(),
                    )))
                    .map_err(plot_err)?;
                if let Some([lo, hi]) = b.interval {
                    let (lo, hi) = (lo.clamp(y0, y1), hi.clamp(y0, y1));
                    if lo.is_finite() && hi.is_finite() {
                        let xm = (xa + xb) / 2.0;
                        let cap = 0.25 * (xb - xa);
                        let mut lines = vec![vec![(xm, lo), (xm, hi)]];
                        for y in [lo, hi] {
                            lines.push(vec![(xm - cap, y), (xm + cap, y)]);
                        }
                        chart
                            .draw_series(
                                lines
                                    .into_iter()
                                    .map(|l| PathElement::new(l, BLACK.stroke_width(2))),
                            )
                            .map_err(plot_err)?;
                    }
                }
            }
        }
        // Reference lines, dashed, with their label above the line's right end.
        let rfont = ("sans-serif", 13).into_font();
        for (i, r) in plot.references.iter().enumerate() {
            if r.value < y0 || r.value > y1 {
                continue;
            }
            let c = reference_colour(i);
            let span = r.groups.clone().unwrap_or(0..ng);
            let (xa, xb) = (span.start as f64, span.end as f64);
            chart
                .draw_series(std::iter::once(DashedPathElement::new(
                    vec![(xa, r.value), (xb, r.value)],
                    10,
                    5,
                    c.stroke_width(2),
                )))
                .map_err(plot_err)?;
            let (px, py) = chart.backend_coord(&(xb, r.value));
            let (bx, by) = chart_area.get_base_pixel();
            // On a white box, readable where the line crosses a bar.
            let (tw, th) = chart_area
                .estimate_text_size(&r.label, &rfont.clone().into())
                .map_or((0, 0), |(w, h)| (w as i32, h as i32));
            let (tx, ty) = (px - bx - 4, py - by - 3);
            chart_area
                .draw(&Rectangle::new(
                    [(tx - tw - 2, ty - th - 1), (tx + 2, ty + 1)],
                    WHITE.mix(0.85).filled(),
                ))
                .map_err(plot_err)?;
            chart_area
                .draw(&Text::new(
                    r.label.clone(),
                    (tx, ty),
                    rfont
                        .clone()
                        .color(&c)
                        .pos(Pos::new(HPos::Right, VPos::Bottom)),
                ))
                .map_err(plot_err)?;
        }
        // Group labels, centred under each group.
        let font = ("sans-serif", layout.size).into_font();
        for (g, lines) in layout.lines.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(g as f64 + 0.5, y0));
            let (bx, by) = chart_area.get_base_pixel();
            let (px, py) = (px - bx, py - by + 6);
            if layout.upright {
                let style = font
                    .clone()
                    .transform(FontTransform::Rotate270)
                    .color(&BLACK);
                let w = chart_area
                    .estimate_text_size(&lines[0], &("sans-serif", layout.size).into_font().into())
                    .map_or(0, |d| d.0) as i32;
                chart_area
                    .draw(&Text::new(
                        lines[0].clone(),
                        (px - layout.size as i32 / 2, py + w),
                        style,
                    ))
                    .map_err(plot_err)?;
            } else {
                for (k, line) in lines.iter().enumerate() {
                    let style = font
                        .clone()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Center, VPos::Top));
                    chart_area
                        .draw(&Text::new(
                            line.clone(),
                            (px, py + k as i32 * (layout.size as i32 + 4)),
                            style,
                        ))
                        .map_err(plot_err)?;
                }
            }
        }
        // Legend above the plot.
        draw_legend(&legend_area, &rows, margin, |i| {
            if i >= first_ref {
                Swatch::Dashed(reference_colour(i - first_ref))
            } else {
                Swatch::Box(palette(i))
            }
        })?;
        root.present().map_err(plot_err)?;
    }
    save_png(path.as_ref(), buf)
}

/// Fewest runs for which [`Band::mean_t_interval`] draws a t band; with fewer, the
/// band would mostly show the t quantile (12.7 for two runs at 95 %), so the runs are
/// drawn one by one instead.
pub const MIN_RUNS_FOR_BAND: usize = 3;

/// A curve with an interval band: (x, mean, lo, hi) points, and optionally the
/// individual runs behind the mean, drawn as thin lines.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    pub name: String,
    pub points: Vec<(f64, f64, f64, f64)>,
    /// Individual runs as (x, y) points; empty when the band stands for them.
    pub runs: Vec<Vec<(f64, f64)>>,
}

impl Band {
    /// A curve with the given (x, mean, lo, hi) points and no individual runs.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64, f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            runs: Vec::new(),
        }
    }

    /// How a plot title describes bands made by [`Band::mean_t_interval`] over
    /// `n_runs` runs called `unit` (e.g. "seeds").
    pub fn caption(n_runs: usize, conf: f64, unit: &str) -> String {
        if n_runs >= MIN_RUNS_FOR_BAND {
            format!(
                "mean ± {}% t interval over {n_runs} {unit}",
                (conf * 100.0).round()
            )
        } else {
            format!("mean (thick) and each of {n_runs} {unit} (thin)")
        }
    }

    /// Mean ± a two-sided t interval at `conf` over runs (seeds) sampled at the same
    /// `xs`: `runs[i][j]` is run i at `xs[j]`; NaN values are skipped; with fewer than
    /// two runs at an x the band has zero width there. With fewer than
    /// [`MIN_RUNS_FOR_BAND`] runs there is no band: the mean is drawn with every run
    /// beside it.
    pub fn mean_t_interval(
        name: impl Into<String>,
        xs: &[f64],
        runs: &[Vec<f64>],
        conf: f64,
    ) -> Result<Self> {
        crate::stats::dist::check_conf(conf)?;
        if let Some(r) = runs.iter().find(|r| r.len() != xs.len()) {
            return Err(Error::invalid(format!(
                "band: a run has {} values for {} x positions",
                r.len(),
                xs.len()
            )));
        }
        let mut points = Vec::with_capacity(xs.len());
        for (j, &x) in xs.iter().enumerate() {
            let v: Vec<f64> = runs
                .iter()
                .map(|r| r[j])
                .filter(|v| v.is_finite())
                .collect();
            if v.is_empty() {
                continue;
            }
            let n = v.len() as f64;
            let m = v.iter().sum::<f64>() / n;
            let half = if v.len() >= 2 && runs.len() >= MIN_RUNS_FOR_BAND {
                let s2 = v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (n - 1.0);
                crate::stats::dist::t_quantile(1.0 - (1.0 - conf) / 2.0, n - 1.0) * (s2 / n).sqrt()
            } else {
                0.0
            };
            points.push((x, m, m - half, m + half));
        }
        let runs = if runs.len() < MIN_RUNS_FOR_BAND {
            runs.iter()
                .map(|r| {
                    xs.iter()
                        .zip(r)
                        .filter(|(_, y)| y.is_finite())
                        .map(|(&x, &y)| (x, y))
                        .collect()
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Self {
            name: name.into(),
            points,
            runs,
        })
    }
}

/// The maximal stretches of consecutive points that pass `ok`, in order (a point that
/// fails `ok` ends a stretch and is dropped).
fn finite_segments<T: Copy>(points: &[T], ok: impl Fn(&T) -> bool) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut cur = Vec::new();
    for p in points {
        if ok(p) {
            cur.push(*p);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Draw curves with shaded interval bands (e.g. learning curves: mean ± a 95% t
/// interval over seeds) and a legend above the plot, and write a PNG to `path`. When
/// every x is an integer (clicks, epochs) the x ticks are integers.
pub fn band_plot(
    path: impl AsRef<Path>,
    title: &str,
    x_label: &str,
    y_label: &str,
    bands: &[Band],
) -> Result<()> {
    if bands.iter().all(|b| b.points.is_empty()) {
        return Err(Error::invalid(format!("band plot '{title}' has no points")));
    }
    register_font();
    let (x0, x1) = range(bands.iter().flat_map(|b| b.points.iter().map(|p| p.0)));
    let (y0, y1) = range(
        bands
            .iter()
            .flat_map(|b| b.points.iter().flat_map(|p| [p.1, p.2, p.3]))
            .chain(
                bands
                    .iter()
                    .flat_map(|b| b.runs.iter().flatten().map(|p| p.1)),
            ),
    );
    let (nx, xstep) = x_ticks(
        x0,
        x1,
        all_integer(bands.iter().flat_map(|b| b.points.iter().map(|p| p.0))),
    );
    let ystep = tick_step(y0, y1, MAX_TICKS);
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root.titled(title, ("sans-serif", 22)).map_err(plot_err)?;
        // Legend above the plot, where it never hides a curve.
        let margin = 16u32;
        let names: Vec<String> = bands.iter().map(|b| b.name.clone()).collect();
        let rows = legend_rows(&root, &names, W - 2 * margin);
        let (legend_area, chart_area) = root.split_vertically(legend_height(rows.len()));
        draw_legend(&legend_area, &rows, margin, |i| Swatch::Line(palette(i)))?;
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(margin)
            .margin_top(6)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_labels(nx)
            .y_labels(MAX_TICKS)
            .x_label_formatter(&|v| tick_label(*v, xstep))
            .y_label_formatter(&|v| tick_label(*v, ystep))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(plot_err)?;
        for (i, b) in bands.iter().enumerate() {
            let c = palette(i);
            // A missing (non-finite) point breaks a line: each finite stretch is drawn on
            // its own, so a gap shows as a gap, not as a straight line across it.
            for run in &b.runs {
                for seg in finite_segments(run, |p| p.0.is_finite() && p.1.is_finite()) {
                    chart
                        .draw_series(LineSeries::new(
                            seg.iter().copied(),
                            c.mix(0.55).stroke_width(1),
                        ))
                        .map_err(plot_err)?;
                }
            }
            let segs = finite_segments(&b.points, |p| {
                p.0.is_finite() && p.1.is_finite() && p.2.is_finite() && p.3.is_finite()
            });
            for pts in segs {
                let mut poly: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.3)).collect();
                poly.extend(pts.iter().rev().map(|p| (p.0, p.2)));
                chart
                    .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))
                    .map_err(plot_err)?;
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().map(|p| (p.0, p.1)),
                        c.stroke_width(2),
                    ))
                    .map_err(plot_err)?;
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
    fn a_missing_point_splits_a_line_into_segments() {
        let nan = f64::NAN;
        let pts = [(0.0, 1.0), (1.0, nan), (2.0, 3.0), (3.0, 4.0), (4.0, nan)];
        let segs = finite_segments(&pts, |p| p.1.is_finite());
        assert_eq!(segs, vec![vec![(0.0, 1.0)], vec![(2.0, 3.0), (3.0, 4.0)]]);
        assert!(finite_segments(&[(0.0, nan)], |p: &(f64, f64)| p.1.is_finite()).is_empty());
    }

    #[test]
    fn tick_labels_round_to_the_step() {
        // Float noise at zero (auc_differences.png printed "-1.4e-17").
        assert_eq!(tick_label(-1.4e-17, 0.05), "0");
        assert_eq!(tick_label(1e-12, 0.5), "0");
        assert_eq!(tick_label(-0.0, 1.0), "0");
        // Rounded to the step's decimals, trailing zeros dropped.
        assert_eq!(tick_label(0.15000000000000002, 0.05), "0.15");
        assert_eq!(tick_label(-0.1, 0.05), "-0.1");
        assert_eq!(tick_label(0.30000000000000004, 0.1), "0.3");
        assert_eq!(tick_label(2.5, 0.5), "2.5");
        assert_eq!(tick_label(3.0, 0.5), "3");
        assert_eq!(tick_label(1500.0, 500.0), "1500");
        assert_eq!(tick_label(-450.0, 50.0), "-450");
        assert_eq!(tick_label(0.0025, 0.0005), "0.0025");
        // Very large values and tiny steps in scientific notation.
        assert_eq!(tick_label(2_000_000.0, 500_000.0), "2e6");
        assert_eq!(tick_label(3e-5, 1e-5), "3e-5");
        assert_eq!(tick_label(f64::NAN, 1.0), "NaN");
        // The step plotters uses: 1, 2 or 5 × 10^k with at most `max` ticks inside.
        assert_eq!(tick_step(-0.13, 0.19, 10), 0.05);
        assert_eq!(tick_step(0.0, 1.0, 10), 0.2);
        assert_eq!(tick_step(0.0, 1.0, 11), 0.1);
        assert_eq!(tick_step(-500.0, 0.0, 10), 100.0);
        assert!((tick_step(2.5, 3.4, 10) - 0.1).abs() < 1e-12);
        // Integer x (clicks, epochs): integer ticks even over a short range.
        let (n, step) = x_ticks(0.8, 5.2, true);
        assert_eq!((n, step), (5, 1.0));
        assert_eq!(x_ticks(0.8, 5.2, false).1, 0.5);
        assert!(all_integer([1.0, 2.0, f64::NAN].into_iter()));
        assert!(!all_integer([1.0, 2.5].into_iter()));
    }

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
mod grouped_tests {
    use super::*;

    /// Where the example plots go: `CANDOR_PLOT_DIR` (to look at them) or a temp dir.
    fn out_dir() -> (Option<tempfile::TempDir>, std::path::PathBuf) {
        match std::env::var_os("CANDOR_PLOT_DIR") {
            Some(d) => (None, d.into()),
            None => {
                let t = tempfile::tempdir().unwrap();
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        }
    }

    fn groups(labels: &[&str], nv: usize) -> Vec<BarGroup> {
        labels
            .iter()
            .enumerate()
            .map(|(g, l)| BarGroup {
                label: l.to_string(),
                bars: (0..nv)
                    .map(|v| {
                        let x = 0.3 + 0.6 * (((g * 7 + v * 3) % 10) as f64 / 10.0);
                        BarValue::new(x, Some([x - 0.06, (x + 0.05).min(1.0)]))
                    })
                    .collect(),
            })
            .collect()
    }

    #[test]
    fn grouped_bars_render_with_wrapped_or_upright_labels() {
        let (_keep, dir) = out_dir();
        let mut plot = GroupedBars {
            title: "Accuracy per attack (95% Wilson intervals)".into(),
            y_label: "accuracy".into(),
            variants: vec!["no defense".into(), "SRS".into(), "SOR".into()],
            groups: groups(
                &[
                    "clean",
                    "Perturb (C&W L2)",
                    "Add-CD (chamfer)",
                    "Add-HD (Hausdorff)",
                    "Drop-200 (saliency)",
                ],
                3,
            ),
            y_range: Some((0.0, 1.0)),
            references: Vec::new(),
        };
        grouped_bar_plot(dir.join("grouped_wrapped.png"), &plot).unwrap();
        // Many groups with long labels: upright text.
        plot.groups = groups(
            &(0..14)
                .map(|i| {
                    [
                        "spsl-rgb-cross",
                        "mat-no-agda",
                        "efficientnet-b4",
                        "control-permuted",
                    ][i % 4]
                })
                .collect::<Vec<_>>(),
            3,
        );
        plot.references = vec![Reference::new(0.5, "chance")];
        grouped_bar_plot(dir.join("grouped_upright.png"), &plot).unwrap();
        let img = image::open(dir.join("grouped_upright.png")).unwrap();
        assert_eq!((img.width(), img.height()), (W, H));
        // The old single-colour bar plot goes through the same code.
        bar_plot(
            dir.join("bars_single.png"),
            "Test AUC in-domain; controls belong at 0.5",
            "frame AUC",
            &[
                "vanilla",
                "mat",
                "mat-no-agda",
                "spsl",
                "spsl-rgb",
                "null ctrl",
                "perm. ctrl",
            ]
            .iter()
            .enumerate()
            .map(|(i, l)| Bar {
                label: l.to_string(),
                value: 0.5 + 0.05 * i as f64,
                err: Some(0.03),
            })
            .collect::<Vec<_>>(),
        )
        .unwrap();
        // Negative values, a zero line and per-group reference lines (the controls).
        let controls = GroupedBars {
            title: "Controls and differences".into(),
            y_label: "AUC difference".into(),
            variants: vec!["seed 0".into(), "seed 1".into()],
            groups: vec![
                BarGroup {
                    label: "negative".into(),
                    bars: vec![
                        BarValue::new(-0.04, Some([-0.1, 0.02])),
                        BarValue::new(0.13, Some([0.09, 0.17])),
                    ],
                },
                BarGroup {
                    label: "positive".into(),
                    bars: vec![
                        BarValue::new(0.95, Some([0.9, 0.99])),
                        BarValue::new(0.7, Some([0.6, 0.8])),
                    ],
                },
            ],
            y_range: None,
            references: vec![
                Reference::new(0.0, "no difference"),
                Reference::new(0.5, "chance").over_groups(0..1),
                Reference::new(0.9, "required ≥ 0.9").over_groups(1..2),
            ],
        };
        grouped_bar_plot(dir.join("grouped_references.png"), &controls).unwrap();
        let mut bad = controls.clone();
        bad.references[1] = Reference::new(0.5, "x").over_groups(1..3);
        assert!(grouped_bar_plot(dir.join("bad.png"), &bad).is_err());
        bad.references[1] = Reference::new(f64::NAN, "x");
        assert!(grouped_bar_plot(dir.join("bad.png"), &bad).is_err());
        // Mismatched groups are an error.
        plot.groups[0].bars.pop();
        assert!(grouped_bar_plot(dir.join("bad.png"), &plot).is_err());
    }

    #[test]
    fn band_plot_renders_mean_and_interval() {
        let (_keep, dir) = out_dir();
        let xs: Vec<f64> = (0..50).map(|i| i as f64 * 1000.0).collect();
        let runs = |a: f64, s: f64| -> Vec<Vec<f64>> {
            (0..5)
                .map(|seed| {
                    xs.iter()
                        .map(|x| {
                            a * (1.0 - (-x / 15000.0).exp())
                                + s * ((seed as f64 + x / 7000.0).sin())
                        })
                        .collect()
                })
                .collect()
        };
        let b1 = Band::mean_t_interval("DQN", &xs, &runs(180.0, 15.0), 0.95).unwrap();
        let b2 = Band::mean_t_interval("NROWAN-DQN", &xs, &runs(195.0, 6.0), 0.95).unwrap();
        assert!(b1.points.iter().all(|p| p.2 <= p.1 && p.1 <= p.3));
        assert!(b1.points.iter().any(|p| p.2 < p.3) && b1.runs.is_empty());
        band_plot(
            dir.join("bands.png"),
            "CartPole-v0: mean return over 5 seeds (95% t interval)",
            "env steps",
            "episode return",
            &[b1, b2],
        )
        .unwrap();
        assert!(Band::mean_t_interval("x", &xs, &[vec![1.0]], 0.95).is_err());
        assert!(band_plot(dir.join("e.png"), "e", "x", "y", &[]).is_err());
    }

    #[test]
    fn two_runs_are_drawn_one_by_one_not_as_a_t_band() {
        let (_keep, dir) = out_dir();
        let xs = [0.0, 1.0, 2.0];
        let b = Band::mean_t_interval(
            "RIM",
            &xs,
            &[vec![0.0, 2.0, 4.0], vec![2.0, f64::NAN, 8.0]],
            0.95,
        )
        .unwrap();
        // No band: lo = mean = hi, and both runs kept (the NaN dropped).
        assert_eq!(
            b.points,
            vec![
                (0.0, 1.0, 1.0, 1.0),
                (1.0, 2.0, 2.0, 2.0),
                (2.0, 6.0, 6.0, 6.0)
            ]
        );
        assert_eq!(
            b.runs,
            vec![
                vec![(0.0, 0.0), (1.0, 2.0), (2.0, 4.0)],
                vec![(0.0, 2.0), (2.0, 8.0)]
            ]
        );
        assert_eq!(
            Band::caption(2, 0.95, "seeds"),
            "mean (thick) and each of 2 seeds (thin)"
        );
        assert_eq!(
            Band::caption(5, 0.95, "seeds"),
            "mean ± 95% t interval over 5 seeds"
        );
        // The y range covers the runs, not only the mean.
        band_plot(dir.join("two.png"), "two runs", "x", "y", &[b]).unwrap();
    }
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
