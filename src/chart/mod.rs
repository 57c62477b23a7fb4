//! Charts of the schedules, as SVG text or PNG bytes: the cumulative dose of one patient
//! per arm (`dosesim chart`), every arm of every trial in cells/kg (`dosesim compare`) and
//! one trial's arms as lanes of events (`dosesim timeline`). The HTML report embeds the
//! same charts through the functions below.
//!
//! Each chart is built in two steps: its data (plain numbers and labels, from the schedule
//! core's events) and its drawing, written once over any plotters backend. The output
//! depends on nothing but the inputs: the font is bundled (DejaVu Sans, registered on first
//! use so that commands without charts never load it), PNGs are rasterised in memory and
//! encoded without timestamps, so the same inputs give the same bytes on any machine.
//! Nothing here writes files: callers hand the bytes to [`crate::write::atomic`].

mod compare;
mod cumulative;
mod error;
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

/// Size of a timeline of `arms` lanes.
pub fn timeline_size(arms: usize) -> (u32, u32) {
    (1000, 120 + 70 * arms.max(1) as u32)
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
    size: (u32, u32),
) -> Result<(String, Vec<u8>)> {
    let chart =
        cumulative::Cumulative::new(trial, &[arm], patient.weight_kg, Some(patient.start), false)?
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

/// A chart whose data is ready: it only has to be drawn, on whichever backend. Drawing
/// fails only on a bug, so its errors are plain `anyhow` ones.
trait Chart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static;
}

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the bundled font under the only family the charts use. Text layout (and the
/// PNG glyphs) need it; doing it here rather than at start-up keeps other commands fast.
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
    Ok(out)
}

fn png(chart: &impl Chart, size: (u32, u32)) -> Result<Vec<u8>> {
    ensure_font()?;
    check_size(size)?;
    let (w, h) = size;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        chart.draw(&root).map_err(draw_error)?;
        root.present().map_err(draw_error)?;
    }
    encode_png(&rgb, size).map_err(draw_error)
}

/// Encodes an RGB buffer. The PNG holds pixels only (no time or software chunks), so equal
/// pixels give equal files.
fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = ::png::Encoder::new(&mut out, w, h);
        enc.set_color(::png::ColorType::Rgb);
        enc.set_depth(::png::BitDepth::Eight);
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
