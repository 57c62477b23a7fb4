//! Charts of the schedules, as SVG text or PNG bytes: the cumulative dose of one patient
//! per arm (`dosesim chart`), every arm of every trial in cells/kg (`dosesim compare`) and
//! one trial's arms as lanes of events (`dosesim timeline`). The HTML report embeds the
//! same charts through the functions below.
//!
//! Each chart is built in two steps: its data (plain numbers and labels, from the schedule
//! core's events) and its drawing, written once with plotters as SVG. A PNG is that same
//! SVG rasterised by resvg (pure Rust, anti-aliased text at fractional positions). The
//! output depends on nothing but the inputs: the font is bundled (DejaVu Sans, loaded on
//! first use so that commands without charts never load it, and the only font resvg is
//! given), and PNGs are encoded without timestamps, so the same inputs give the same bytes
//! on any machine.
//! Nothing here writes files: callers hand the bytes to [`crate::write::atomic`].

mod compare;
mod cumulative;
mod error;
mod fan;
mod measure;
mod parts;
mod timeline;

use std::sync::OnceLock;

use chrono::NaiveDate;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::model::{Arm, Trial};

pub use error::ChartError;

/// What the chart functions return: the chart, or why it could not be made.
type Result<T, E = ChartError> = std::result::Result<T, E>;

/// Study day 1 when the caller gives no start date. Month-based schedules depend on it,
/// so a fixed date keeps charts reproducible.
pub const DEFAULT_START: NaiveDate = match NaiveDate::from_ymd_opt(2026, 1, 1) {
    Some(d) => d,
    None => panic!("valid date"),
};

/// Size of the cumulative and compare charts when the caller has no layout of its own.
pub const DEFAULT_SIZE: (u32, u32) = (1000, 600);

/// The assumed dose and timing values behind the drawn curves, as a subtitle line
/// ("Assumed, not in the registry record: msc-8w dose, msc-4w dose"), or "" when none.
/// `label` names an arm in the chart's own words (with its trial id on the compare chart).
pub(crate) fn assumed_note<'a>(arms: impl IntoIterator<Item = (&'a Arm, String)>) -> String {
    let mut items = Vec::new();
    for (arm, label) in arms {
        let mut what = Vec::new();
        for c in &arm.components {
            if c.dose.provenance.is_assumed() && !what.contains(&"dose") {
                what.push("dose");
            }
            if c.timing.provenance.is_assumed() && !what.contains(&"days") {
                what.push("days");
            }
        }
        if !what.is_empty() {
            items.push(format!("{label} {}", what.join(" and ")));
        }
    }
    if items.is_empty() {
        String::new()
    } else {
        format!("Assumed, not in the registry record: {}", items.join(", "))
    }
}

/// Tallest timeline, in pixels: 20 lanes (the most arms a scenario may have) of 70 pixels.
/// More lanes than that share this height (and are drawn thinner).
const TIMELINE_MAX_H: u32 = 120 + 70 * crate::limits::MAX_ARMS as u32;

/// Size of a timeline of `arms` lanes: 70 pixels a lane, at most `TIMELINE_MAX_H`.
pub fn timeline_size(arms: usize) -> (u32, u32) {
    let lanes = arms.clamp(1, crate::limits::MAX_ARMS) as u32;
    (1000, (120 + 70 * lanes).min(TIMELINE_MAX_H))
}

/// The cumulative cell dose of one patient under each of `arms`, as SVG.
pub fn cumulative_svg(
    trial: &Trial,
    arms: &[&Arm],
    weight_kg: f64,
    start: Option<NaiveDate>,
    per_kg: bool,
    size: (u32, u32),
) -> Result<String> {
    svg(
        &cumulative::Cumulative::new(trial, arms, weight_kg, start, per_kg)?,
        size,
    )
}

/// The cumulative cell dose of one patient under each of `arms`, as PNG bytes.
pub fn cumulative_png(
    trial: &Trial,
    arms: &[&Arm],
    weight_kg: f64,
    start: Option<NaiveDate>,
    per_kg: bool,
    size: (u32, u32),
) -> Result<Vec<u8>> {
    png(
        &cumulative::Cumulative::new(trial, arms, weight_kg, start, per_kg)?,
        size,
    )
}

/// One roster patient's cumulative chart, titled with their id and arm, as SVG and PNG.
pub fn patient_charts(
    trial: &Trial,
    arm: &Arm,
    patient: &crate::schedule::Patient,
    calendar: Option<&crate::site::SiteCalendar>,
    recorded: Option<(&[crate::schedule::Event], NaiveDate)>,
    size: (u32, u32),
) -> Result<(String, Vec<u8>)> {
    let chart = match recorded {
        Some((events, as_of)) => cumulative::Cumulative::recorded(
            trial,
            arm,
            patient.weight_kg.f64(),
            patient.start,
            events,
            as_of,
        )?,
        None => cumulative::Cumulative::on_calendar(
            trial,
            &[arm],
            patient.weight_kg.f64(),
            Some(patient.start),
            false,
            calendar,
        )?,
    }
    .for_patient(trial, &patient.id, &arm.id);
    Ok((svg(&chart, size)?, png(&chart, size)?))
}

/// Every arm with cell doses of every trial, cumulative cells/kg, as SVG. Fixed doses are
/// converted at `reference_weight_kg`.
pub fn compare_svg(
    trials: &[Trial],
    reference_weight_kg: f64,
    log: bool,
    size: (u32, u32),
) -> Result<String> {
    svg(
        &compare::Compare::new(trials, reference_weight_kg, log)?,
        size,
    )
}

/// Every arm with cell doses of every trial, cumulative cells/kg, as PNG bytes.
pub fn compare_png(
    trials: &[Trial],
    reference_weight_kg: f64,
    log: bool,
    size: (u32, u32),
) -> Result<Vec<u8>> {
    png(
        &compare::Compare::new(trials, reference_weight_kg, log)?,
        size,
    )
}

/// One trial's arms as lanes of infusions, exchanges and visits, as SVG.
pub fn timeline_svg(trial: &Trial, weight_kg: f64, size: (u32, u32)) -> Result<String> {
    svg(&timeline::Timeline::new(trial, weight_kg)?, size)
}

/// One trial's arms as lanes of infusions, exchanges and visits, as PNG bytes.
pub fn timeline_png(trial: &Trial, weight_kg: f64, size: (u32, u32)) -> Result<Vec<u8>> {
    png(&timeline::Timeline::new(trial, weight_kg)?, size)
}

/// The forecast's fan chart of its `k`-th product, as SVG and PNG.
pub fn fan_charts(
    f: &crate::forecast::Forecast,
    k: usize,
    size: (u32, u32),
) -> Result<(String, Vec<u8>)> {
    let chart = fan::Fan::new(f, k)?;
    let svg = svg(&chart, size)?;
    let png = rasterise(&svg, size)?;
    Ok((svg, png))
}

/// A chart whose data is ready: it only has to be drawn, on whichever backend. Drawing
/// fails only on a bug, so its errors are plain `anyhow` ones.
trait Chart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static;
}

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family name inside [`FONT`].
const FONT_FAMILY: &str = "DejaVu Sans";

/// Registers the bundled font with plotters under the only family the charts use: text
/// layout measures labels with it. Doing it here rather than at start-up keeps other
/// commands fast. (resvg gets the same font through [`svg_options`].)
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if !ok {
        return Err(ChartError::Font);
    }
    Ok(())
}

/// Smallest and largest chart sides, in pixels: below the minimum the labels cannot fit,
/// above the maximum a PNG buffer would be unreasonably large.
const MIN_SIDE: (u32, u32) = (320, 150);
const MAX_SIDE: u32 = 8000;

fn check_size((w, h): (u32, u32)) -> Result<()> {
    if w < MIN_SIDE.0 || h < MIN_SIDE.1 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(ChartError::Size {
            w,
            h,
            min_w: MIN_SIDE.0,
            min_h: MIN_SIDE.1,
            max: MAX_SIDE,
        });
    }
    Ok(())
}

fn svg(chart: &impl Chart, size: (u32, u32)) -> Result<String> {
    ensure_font()?;
    check_size(size)?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        chart.draw(&root).map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    Ok(crisp_edges(&out))
}

/// Marks the lines that run along the pixel grid (grid lines, axes, ticks, step curves)
/// `shape-rendering="crispEdges"`: drawn on whole-pixel coordinates, a one-pixel line is
/// otherwise smeared over two grey pixels, in the PNG and in a browser alike. Slanted
/// outlines (markers) keep their anti-aliasing. Plotters writes one element per line and
/// escapes text, so only elements match.
fn crisp_edges(svg: &str) -> String {
    const CRISP: &str = "shape-rendering=\"crispEdges\" ";
    let mut out = String::with_capacity(svg.len() + svg.len() / 8);
    for line in svg.split_inclusive('\n') {
        let tag = ["<line ", "<polyline "]
            .into_iter()
            .find(|t| line.starts_with(t));
        match tag {
            Some(t) if t == "<line " || along_grid(line) => {
                out.push_str(t);
                out.push_str(CRISP);
                out.push_str(&line[t.len()..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// True when a polyline element's points are joined by horizontal and vertical steps only.
fn along_grid(element: &str) -> bool {
    let Some(points) = element
        .split_once("points=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(points, _)| points)
    else {
        return false;
    };
    let mut prev: Option<(&str, &str)> = None;
    for p in points.split_whitespace() {
        let Some((x, y)) = p.split_once(',') else {
            return false;
        };
        if let Some((px, py)) = prev
            && px != x
            && py != y
        {
            return false;
        }
        prev = Some((x, y));
    }
    true
}

/// The chart as PNG bytes: its SVG (the very text [`svg`] returns) rasterised by resvg,
/// so the PNG shows what the SVG shows, with glyphs placed at fractional positions.
fn png(chart: &impl Chart, size: (u32, u32)) -> Result<Vec<u8>> {
    rasterise(&svg(chart, size)?, size)
}

/// The parsing options of every rasterised chart: the bundled font as the only font (no
/// system fonts are looked up) and no external images.
fn svg_options() -> &'static resvg::usvg::Options<'static> {
    static OPTIONS: OnceLock<resvg::usvg::Options<'static>> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        let mut fonts = resvg::usvg::fontdb::Database::new();
        fonts.load_font_data(FONT.to_vec());
        fonts.set_sans_serif_family(FONT_FAMILY);
        resvg::usvg::Options {
            font_family: FONT_FAMILY.to_string(),
            fontdb: std::sync::Arc::new(fonts),
            image_href_resolver: resvg::usvg::ImageHrefResolver {
                resolve_data: Box::new(|_, _, _| None),
                resolve_string: Box::new(|_, _| None),
            },
            ..resvg::usvg::Options::default()
        }
    })
}

/// Renders an SVG of `size` pixels to PNG bytes.
fn rasterise(svg: &str, (w, h): (u32, u32)) -> Result<Vec<u8>> {
    use resvg::tiny_skia::{Color, Pixmap, Transform};
    let tree = resvg::usvg::Tree::from_str(svg, svg_options()).map_err(draw_error)?;
    let mut pixmap =
        Pixmap::new(w, h).ok_or_else(|| ChartError::Draw(format!("no {w}x{h} px image")))?;
    // On an opaque background every pixel ends opaque, so the premultiplied colours are
    // the plain ones and the alpha channel can go.
    pixmap.fill(Color::WHITE);
    resvg::render(&tree, Transform::identity(), &mut pixmap.as_mut());
    let rgb: Vec<u8> = pixmap
        .data()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    encode_png(&rgb, (w, h)).map_err(draw_error)
}

/// Encodes an RGB buffer. The PNG holds pixels only (no time or software chunks), so equal
/// pixels give equal files. Fast deflate after the Paeth filter: a patient's chart takes
/// under half a millisecond to encode instead of about six at the default level, for
/// files about twice as large (and half the size of the former bitmap PNGs).
fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = ::png::Encoder::new(&mut out, w, h);
        enc.set_color(::png::ColorType::Rgb);
        enc.set_depth(::png::BitDepth::Eight);
        enc.set_compression(::png::Compression::Fast);
        enc.set_filter(::png::Filter::Paeth);
        let mut writer = enc.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
    }
    Ok(out)
}

fn draw_error(e: impl Into<anyhow::Error>) -> ChartError {
    ChartError::Draw(format!("{:#}", e.into()))
}

#[cfg(test)]
mod tests;
