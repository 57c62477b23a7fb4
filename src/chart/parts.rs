//! What the three charts share: colours, text styles, tick choice and labels, the title
//! block, markers and the legend. Markers, legends and marks are drawn in pixels on the
//! root area, so the same code serves the plot and the legend and never depends on the
//! chart's coordinate types.

pub use crate::format::{superscript, trim_decimals};
use anyhow::Result;
use chrono::{Datelike, NaiveDate};
use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub use super::measure::Measure;

/// Distinguishable colours, safe for the common colour-vision deficiencies first
/// (Okabe-Ito, without its yellow, which is unreadable on white), then darker extras.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(140, 86, 75),
    RGBColor(127, 60, 141),
    RGBColor(128, 128, 0),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

pub const INK: RGBColor = RGBColor(33, 33, 33);
pub const MUTED: RGBColor = RGBColor(90, 90, 90);
pub const GRID_BOLD: RGBColor = RGBColor(214, 214, 214);
pub const GRID_LIGHT: RGBColor = RGBColor(238, 238, 238);
pub const EXCHANGE_BAND: RGBColor = RGBColor(255, 196, 120);
pub const VISIT_LINE: RGBColor = RGBColor(110, 110, 110);

/// Text sizes in pixels, as plotters counts them.
pub const TITLE_PX: f64 = 21.0;
pub const SUBTITLE_PX: f64 = 14.0;
pub const AXIS_DESC_PX: f64 = 16.0;
pub const TICK_PX: f64 = 14.0;
pub const LEGEND_PX: f64 = 14.0;
pub const NOTE_PX: f64 = 12.5;

/// A text style in the only family the charts register.
pub fn text(px: f64, color: RGBColor) -> TextStyle<'static> {
    let mut style = TextStyle::from(("sans-serif", px).into_font());
    style.color = color.to_backend_color();
    style
}

pub fn anchored(style: TextStyle<'static>, h: HPos, v: VPos) -> TextStyle<'static> {
    style.pos(Pos::new(h, v))
}

/// Width in pixels of `s` in `style`.
pub fn text_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    style: &TextStyle,
) -> Result<i32>
where
    DB::ErrorType: 'static,
{
    Ok(area.estimate_text_size(s, style)?.0 as i32)
}

/// `s`, shortened with "..." so that it fits in `max_w` pixels: the longest prefix that
/// fits with "..." after it, or "" when not even that fits. Linear in the length of the
/// part of `s` that can fit, however long `s` is (see [`Measure`]).
pub fn fit<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    style: &TextStyle,
    max_w: i32,
) -> Result<String>
where
    DB::ErrorType: 'static,
{
    let m = Measure::new(style)?;
    let fitted = m.fit(s, max_w);
    debug_assert_eq!(
        m.width(&fitted),
        text_width(area, &fitted, style)?,
        "plotters measures {fitted:?} differently"
    );
    Ok(fitted)
}

/// A name shortened to fit in `max_w` pixels: whole when it fits, else without its
/// bracketed remark ("1-month safety visit (primary endpoint)" -> "1-month safety
/// visit"), else cut with "...". Empty when not even a few letters fit.
pub fn fit_name<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    name: &str,
    style: &TextStyle,
    max_w: i32,
) -> Result<String>
where
    DB::ErrorType: 'static,
{
    if Measure::new(style)?.fits(name, max_w) {
        return Ok(name.to_string());
    }
    let short = match name.find(" (") {
        Some(i) if i > 0 => name[..i].trim_end(),
        _ => name,
    };
    let fitted = fit(area, short, style, max_w)?;
    // "1-..." says nothing: better no label than a stub.
    let kept = fitted.trim_end_matches("...").chars().count();
    if kept < 4 && kept < short.chars().take(4).count() {
        return Ok(String::new());
    }
    Ok(fitted)
}

/// A label placed by [`place_labels`]: its text, anchored at pixel column `x` (its left
/// end when `right`, else its right end), on line `row` (0 the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedLabel {
    pub text: String,
    pub x: i32,
    pub right: bool,
    pub row: i32,
}

/// Gap in pixels between a mark and its label.
const LABEL_GAP: i32 = 8;

/// Places one label beside each mark at pixel column `x` (marks in left-to-right order),
/// between the pixel columns `bounds`, on up to `rows` lines. A label goes right of its
/// mark, or left when that side has room, on the first line where it does not run into
/// another label; on the first line (where the marks' triangles are) it also keeps clear
/// of the neighbouring marks. A label too long for every line is shortened with
/// [`fit_name`] to the widest room.
pub fn place_labels<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    marks: &[(i32, &str)],
    style: &TextStyle,
    bounds: (i32, i32),
    rows: usize,
) -> Result<Vec<PlacedLabel>>
where
    DB::ErrorType: 'static,
{
    let rows = rows.max(1);
    let measure = Measure::new(style)?;
    // The rightmost pixel used on each line.
    let mut used = vec![bounds.0; rows];
    let mut out = Vec::new();
    for (i, &(x, name)) in marks.iter().enumerate() {
        // No room is wider than the bounds, so a wider name is only measured that far.
        let w = measure.width_up_to(name, bounds.1 - bounds.0);
        let next = marks.get(i + 1).map_or(bounds.1, |m| m.0);
        let prev = if i == 0 { bounds.0 } else { marks[i - 1].0 };
        // (room, right, row) of each place, in order of preference.
        let mut places = Vec::new();
        for (row, &end) in used.iter().enumerate() {
            let (right_end, left_start) = if row == 0 {
                (next - 6, end.max(prev) + 6)
            } else {
                (bounds.1 - 2, end + 6)
            };
            if x + LABEL_GAP >= end + 6 {
                places.push((right_end - x - LABEL_GAP, true, row));
            }
            places.push((x - LABEL_GAP - left_start, false, row));
        }
        let chosen = places
            .iter()
            .find(|p| p.0 >= w)
            .or_else(|| places.iter().max_by_key(|p| p.0))
            .copied();
        let Some((room, right, row)) = chosen else {
            continue;
        };
        let text = if room >= w {
            name.to_string()
        } else {
            fit_name(area, name, style, room)?
        };
        if text.is_empty() {
            continue;
        }
        let tw = measure.width(&text);
        let (anchor, end) = if right {
            (x + LABEL_GAP, x + LABEL_GAP + tw)
        } else {
            (x - LABEL_GAP, x - LABEL_GAP)
        };
        used[row] = used[row].max(end);
        out.push(PlacedLabel {
            text,
            x: anchor,
            right,
            row: row as i32,
        });
    }
    Ok(out)
}

/// Draws the title and an optional grey subtitle (one line per `\n`) at the top of
/// `root`, and returns the area left below them.
pub fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> Result<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    let (w, _) = root.dim_in_pixel();
    let max_w = w as i32 - 24;
    let title_style = anchored(text(TITLE_PX, INK), HPos::Center, VPos::Top);
    let title = fit(root, title, &title_style, max_w)?;
    root.draw(&Text::new(title, (w as i32 / 2, 10), title_style))?;
    let mut used = 10 + TITLE_PX as u32 + 6;
    for line in subtitle.lines().filter(|l| !l.is_empty()) {
        let sub_style = anchored(text(SUBTITLE_PX, MUTED), HPos::Center, VPos::Top);
        let sub = fit(root, line, &sub_style, max_w)?;
        root.draw(&Text::new(sub, (w as i32 / 2, used as i32), sub_style))?;
        used += SUBTITLE_PX as u32 + 6;
    }
    Ok(root.split_vertically(used).1)
}

/// The title and subtitle ([`header`]), then a one-line legend below them: the first of
/// `legends` that fits the width (none drawn when none does). Returns the plot's area.
pub fn header_and_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
    legends: &[Vec<LegendItem>],
) -> Result<DrawingArea<DB, Shift>>
where
    DB::ErrorType: 'static,
{
    let body = header(root, title, subtitle)?;
    let (body_w, _) = body.dim_in_pixel();
    let legend_h = LEGEND_PX as u32 + 12;
    let (legend_area, plot) = body.split_vertically(legend_h);
    let legend_y = legend_area.get_base_pixel().1 + legend_h as i32 / 2;
    for items in legends {
        if legend_row(root, items, body_w as i32, legend_y)? {
            break;
        }
    }
    Ok(plot)
}

/// A marker shape, so that series that overlap exactly stay distinguishable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
    Cross,
}

pub const MARKERS: [Marker; 5] = [
    Marker::Circle,
    Marker::Square,
    Marker::Triangle,
    Marker::Diamond,
    Marker::Cross,
];

/// Draws a marker of radius `r` centred on pixel `at`: filled with `fill` (translucent
/// fills let overlapping markers show through) and outlined in `edge`.
pub fn marker<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    at: (i32, i32),
    m: Marker,
    r: i32,
    fill: RGBAColor,
    edge: RGBColor,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (x, y) = at;
    let outline = |pts: Vec<(i32, i32)>| {
        let mut closed = pts.clone();
        closed.push(pts[0]);
        PathElement::new(closed, edge.stroke_width(1))
    };
    match m {
        Marker::Circle => {
            root.draw(&Circle::new(at, r, fill.filled()))?;
            root.draw(&Circle::new(at, r, edge.stroke_width(1)))?;
        }
        Marker::Square => {
            let q = (r as f64 * 0.85).round() as i32;
            root.draw(&Rectangle::new(
                [(x - q, y - q), (x + q, y + q)],
                fill.filled(),
            ))?;
            root.draw(&outline(vec![
                (x - q, y - q),
                (x + q, y - q),
                (x + q, y + q),
                (x - q, y + q),
            ]))?;
        }
        Marker::Triangle => {
            let pts = vec![
                (x, y - r - 1),
                (x + r + 1, y + r - 1),
                (x - r - 1, y + r - 1),
            ];
            root.draw(&Polygon::new(pts.clone(), fill.filled()))?;
            root.draw(&outline(pts))?;
        }
        Marker::Diamond => {
            let d = r + 1;
            let pts = vec![(x, y - d), (x + d, y), (x, y + d), (x - d, y)];
            root.draw(&Polygon::new(pts.clone(), fill.filled()))?;
            root.draw(&outline(pts))?;
        }
        Marker::Cross => {
            let style = edge.stroke_width(2);
            root.draw(&PathElement::new(
                vec![(x - r, y - r), (x + r, y + r)],
                style,
            ))?;
            root.draw(&PathElement::new(
                vec![(x - r, y + r), (x + r, y - r)],
                style,
            ))?;
        }
    }
    Ok(())
}

/// The ring drawn around a dose's marker at pixel `at` when the site calendar moved the
/// dose off a closed day.
pub fn moved_ring<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, at: (i32, i32)) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.draw(&Circle::new(at, 9, INK.stroke_width(1)))?;
    Ok(())
}

/// A downward triangle whose tip touches pixel `at`: how visits are marked.
pub fn visit_mark<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    at: (i32, i32),
    r: i32,
    color: RGBColor,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (x, y) = at;
    let pts = vec![(x, y), (x + r, y - 2 * r), (x - r, y - 2 * r)];
    root.draw(&Polygon::new(pts, color.filled()))?;
    Ok(())
}

/// A vertical dashed line, one pixel wide, at pixel column `x` from `y0` down to `y1`.
/// Drawn by hand, as pixel-aligned rectangles, so that the dashes stay sharp.
pub fn dashed_vline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    x: i32,
    y0: i32,
    y1: i32,
    color: RGBColor,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let (dash, gap) = (6, 4);
    let mut y = y0;
    while y < y1 {
        let end = (y + dash).min(y1);
        root.draw(&Rectangle::new([(x, y), (x + 1, end)], color.filled()))?;
        y += dash + gap;
    }
    Ok(())
}

/// A dashed polyline through the pixels `pts`, the dash pattern running on across
/// corners. Drawn as one short path per dash.
pub fn dashed_path<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    pts: &[(i32, i32)],
    style: ShapeStyle,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    const DASH: f64 = 7.0;
    const GAP: f64 = 4.0;
    // How far along the current dash (or, past DASH, the gap after it) the pen is.
    let mut phase = 0.0;
    let mut dash: Vec<(i32, i32)> = Vec::new();
    let point = |a: (i32, i32), b: (i32, i32), t: f64| {
        (
            a.0 + (f64::from(b.0 - a.0) * t).round() as i32,
            a.1 + (f64::from(b.1 - a.1) * t).round() as i32,
        )
    };
    for seg in pts.windows(2) {
        let (a, b) = (seg[0], seg[1]);
        let len = f64::from(b.0 - a.0).hypot(f64::from(b.1 - a.1));
        let mut done = 0.0;
        while done < len {
            if phase < DASH {
                if dash.is_empty() {
                    dash.push(point(a, b, done / len));
                }
                let step = (DASH - phase).min(len - done);
                done += step;
                phase += step;
                dash.push(point(a, b, done / len));
                if phase >= DASH {
                    dash.dedup();
                    if dash.len() > 1 {
                        root.draw(&PathElement::new(std::mem::take(&mut dash), style))?;
                    }
                    dash.clear();
                }
            } else {
                let step = (DASH + GAP - phase).min(len - done);
                done += step;
                phase += step;
                if phase >= DASH + GAP {
                    phase = 0.0;
                }
            }
        }
    }
    dash.dedup();
    if dash.len() > 1 {
        root.draw(&PathElement::new(dash, style))?;
    }
    Ok(())
}

/// What a legend entry shows before its label.
#[derive(Debug, Clone)]
pub enum Swatch {
    /// A line through a marker: a plotted series, dashed when drawn shifted.
    Series(RGBColor, Marker, bool),
    /// A filled band: plasma exchange days.
    Band(RGBAColor),
    /// A dashed vertical mark with a triangle: a visit.
    Visit,
    /// A visit triangle alone (the timeline).
    VisitMark,
    /// A marker alone (the timeline's event kinds).
    Marker(Marker, RGBAColor, RGBColor),
    /// The ring around a dose moved off a closed day.
    Ring,
}

pub struct LegendItem {
    pub swatch: Swatch,
    pub label: String,
    /// A second, grey line under the label in a legend column (a remark on the entry).
    pub remark: Option<String>,
}

impl LegendItem {
    pub fn new(swatch: Swatch, label: impl Into<String>) -> Self {
        LegendItem {
            swatch,
            label: label.into(),
            remark: None,
        }
    }
}

const SWATCH_W: i32 = 34;

/// Pixel width a vertical legend of `items` needs, at most `max`.
pub fn legend_width(items: &[LegendItem], max: i32) -> Result<i32> {
    let style = Measure::new(&text(LEGEND_PX, INK))?;
    let remark_style = Measure::new(&text(NOTE_PX, MUTED))?;
    let room = max - SWATCH_W - 8 - 16;
    let mut w = 0;
    for it in items {
        w = w.max(style.width_up_to(&it.label, room));
    }
    // Remarks wrap: they widen the legend only up to a readable line length.
    let mut remarks = 0;
    let remark_cap = w.max(REMARK_LINE_PX);
    for r in items.iter().filter_map(|it| it.remark.as_ref()) {
        remarks = remarks.max(remark_style.width_up_to(r, remark_cap));
    }
    w = w.max(remarks.min(remark_cap));
    Ok((SWATCH_W + 8 + w + 16).min(max))
}

/// Width in pixels up to which a legend remark may widen its legend before it wraps.
const REMARK_LINE_PX: i32 = 230;

/// `s` broken into lines of at most `max_w` pixels at spaces, at most `max_lines` of them
/// (the last ending with "..." when the text needs more); a word longer than a line is
/// shortened with "...".
pub fn wrap(s: &str, style: &TextStyle, max_w: i32, max_lines: usize) -> Result<Vec<String>> {
    Ok(Measure::new(style)?.wrap(s, max_w, max_lines))
}

fn swatch<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sw: &Swatch,
    (x, y): (i32, i32),
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let mid = x + SWATCH_W / 2;
    match sw {
        Swatch::Series(c, m, dashed) => {
            let line = [(x, y), (x + SWATCH_W, y)];
            if *dashed {
                dashed_path(root, &line, c.stroke_width(2))?;
            } else {
                root.draw(&PathElement::new(line.to_vec(), c.stroke_width(2)))?;
            }
            marker(root, (mid, y), *m, 4, c.to_rgba(), *c)?;
        }
        Swatch::Band(c) => {
            root.draw(&Rectangle::new(
                [(mid - 6, y - 8), (mid + 6, y + 8)],
                c.filled(),
            ))?;
        }
        Swatch::Visit => {
            dashed_vline(root, mid, y - 3, y + 9, VISIT_LINE)?;
            visit_mark(root, (mid, y - 2), 4, VISIT_LINE)?;
        }
        Swatch::VisitMark => visit_mark(root, (mid, y + 5), 5, VISIT_LINE)?,
        Swatch::Marker(m, fill, edge) => marker(root, (mid, y), *m, 6, *fill, *edge)?,
        Swatch::Ring => moved_ring(root, (mid, y))?,
    }
    Ok(())
}

/// How tightly a legend column is set: the height of an entry's line, and how many lines
/// its remark may take.
#[derive(Debug, Clone, Copy)]
struct Setting {
    line_h: i32,
    remark_lines: usize,
}

/// Looser to tighter: a legend is set in the first that fits its height.
const SETTINGS: [Setting; 4] = [
    Setting {
        line_h: LEGEND_PX as i32 + 10,
        remark_lines: 4,
    },
    Setting {
        line_h: LEGEND_PX as i32 + 10,
        remark_lines: 1,
    },
    Setting {
        line_h: LEGEND_PX as i32 + 4,
        remark_lines: 1,
    },
    Setting {
        line_h: LEGEND_PX as i32 + 4,
        remark_lines: 0,
    },
];

/// A vertical legend with its top-left corner at pixel `at`, one entry per line, in at
/// most `max_w` by `max_h` pixels. Labels longer than the width are shortened and remarks
/// wrapped. When the entries do not all fit, the legend is set tighter (remarks on one
/// line, then closer lines, then without remarks); when even that is too tall, it lists
/// the plotted series (`Swatch::Series` entries) that fit, in order, then a line "+N more
/// `noun` not listed", then the other entries (bands, visits), so the legend always
/// explains every kind of mark. Returns how many series were left out.
pub fn legend_column<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
    at: (i32, i32),
    (max_w, max_h): (i32, i32),
    noun: &str,
) -> Result<usize>
where
    DB::ErrorType: 'static,
{
    let style = anchored(text(LEGEND_PX, INK), HPos::Left, VPos::Center);
    let remark_style = anchored(text(NOTE_PX, MUTED), HPos::Left, VPos::Center);
    let remark_h = NOTE_PX as i32 + 4;
    let text_w = max_w - SWATCH_W - 8;
    // The first setting in which every entry fits, with each entry's remark lines.
    let mut chosen = None;
    for setting in SETTINGS {
        let mut height = 0;
        let mut remarks = Vec::with_capacity(items.len());
        for it in items {
            let lines = match (&it.remark, setting.remark_lines) {
                (Some(r), n) if n > 0 => wrap(r, &remark_style, text_w, n)?,
                _ => Vec::new(),
            };
            height += setting.line_h + remark_h * lines.len() as i32;
            remarks.push(lines);
            if height > max_h {
                break;
            }
        }
        if height <= max_h {
            chosen = Some((setting, remarks));
            break;
        }
    }
    /// A line of the legend as drawn: an entry with its remark lines, or the note of how
    /// many series are left out.
    enum Line<'a> {
        Entry(&'a LegendItem, Vec<String>),
        More(usize),
    }
    let (line_h, lines, left_out) = match chosen {
        Some((setting, remarks)) => {
            let lines: Vec<Line> = items
                .iter()
                .zip(remarks)
                .map(|(it, r)| Line::Entry(it, r))
                .collect();
            (setting.line_h, lines, 0)
        }
        None => {
            let setting = SETTINGS[SETTINGS.len() - 1];
            let is_series = |it: &&LegendItem| matches!(it.swatch, Swatch::Series(..));
            let series: Vec<&LegendItem> = items.iter().filter(is_series).collect();
            let others: Vec<&LegendItem> = items.iter().filter(|it| !is_series(it)).collect();
            // Lines for the series: the height less the other entries and the note.
            let room = (max_h / setting.line_h - others.len() as i32 - 1).max(0) as usize;
            let shown = room.min(series.len());
            let left_out = series.len() - shown;
            let mut lines: Vec<Line> = series[..shown]
                .iter()
                .map(|it| Line::Entry(it, Vec::new()))
                .collect();
            lines.push(Line::More(left_out));
            lines.extend(others.into_iter().map(|it| Line::Entry(it, Vec::new())));
            (setting.line_h, lines, left_out)
        }
    };
    let text_x = at.0 + SWATCH_W + 8;
    let mut y = at.1 + line_h / 2;
    let measure = Measure::new(&style)?;
    let note = Measure::new(&remark_style)?;
    for line in lines {
        match line {
            Line::Entry(it, remark) => {
                swatch(root, &it.swatch, (at.0, y))?;
                let label = measure.fit_parts(&it.label, text_w);
                root.draw(&Text::new(label, (text_x, y), style.clone()))?;
                for r in remark {
                    y += remark_h;
                    root.draw(&Text::new(r, (text_x, y), remark_style.clone()))?;
                }
            }
            Line::More(n) => {
                let said = note.fit(&format!("+{n} more {noun} not listed (all drawn)"), text_w);
                root.draw(&Text::new(said, (text_x, y), remark_style.clone()))?;
            }
        }
        y += line_h;
    }
    Ok(left_out)
}

/// A one-line legend centred in `width` pixels at height `y`; returns false (drawing
/// nothing) when it does not fit.
pub fn legend_row<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
    width: i32,
    y: i32,
) -> Result<bool>
where
    DB::ErrorType: 'static,
{
    let style = anchored(text(LEGEND_PX, INK), HPos::Left, VPos::Center);
    let gap = 22;
    let mut widths = Vec::new();
    for it in items {
        widths.push(SWATCH_W + 6 + text_width(root, &it.label, &style)?);
    }
    let total: i32 = widths.iter().sum::<i32>() + gap * (items.len() as i32 - 1).max(0);
    if total > width - 16 {
        return Ok(false);
    }
    let mut x = (width - total) / 2;
    for (it, w) in items.iter().zip(&widths) {
        swatch(root, &it.swatch, (x, y))?;
        root.draw(&Text::new(
            it.label.clone(),
            (x + SWATCH_W + 6, y),
            style.clone(),
        ))?;
        x += w + gap;
    }
    Ok(true)
}

/// A linear f64 axis with the ticks the chart chose (`bold`, labelled) and unlabelled grid
/// lines (`light`). Plotters' own key-point wrapper cannot take a label formatter for f64.
#[derive(Clone)]
pub struct Ticked {
    inner: RangedCoordf64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Ticked {
    pub fn new(range: Range<f64>, bold: Vec<f64>, light: Vec<f64>) -> Self {
        Ticked {
            inner: range.into(),
            bold,
            light,
        }
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// A round step (1, 2 or 5 times a power of ten) giving about `target` intervals in `span`.
pub fn nice_step(span: f64, target: usize) -> f64 {
    let raw = (span / target.max(1) as f64).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Study-day ticks for an axis over `range` drawn `axis_px` pixels wide, with labels up
/// to `label_px` wide: whole days at a round step that keeps labels apart, and day 1 (the
/// start) when its label clears the first step's.
pub fn day_ticks(range: (f64, f64), axis_px: f64, label_px: f64) -> Vec<f64> {
    let (lo, hi) = range;
    let room = label_px + 30.0;
    let target = ((axis_px / room).floor() as usize).clamp(2, 10);
    let step = nice_step(hi.max(1.0), target).max(1.0).round();
    let px_per_day = axis_px / (hi - lo).max(1.0);
    let mut ticks = Vec::new();
    if step == 1.0 || (step - 1.0) * px_per_day >= label_px + 12.0 {
        ticks.push(1.0);
    }
    let mut k = if step == 1.0 { 2.0 } else { 1.0 };
    while k * step <= hi + 1e-9 {
        ticks.push(k * step);
        k += 1.0;
    }
    ticks
}

/// The steps a date axis may tick at, finest first: every day, week or fortnight from
/// study day 1 (so each tick falls on its weekday), or the first of every 1, 2, 3, 6 or 12
/// months.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateStep {
    Days(i64),
    Months(u32),
}

const DATE_STEPS: [DateStep; 8] = [
    DateStep::Days(1),
    DateStep::Days(7),
    DateStep::Days(14),
    DateStep::Months(1),
    DateStep::Months(2),
    DateStep::Months(3),
    DateStep::Months(6),
    DateStep::Months(12),
];

impl DateStep {
    /// The fewest days between two ticks.
    fn min_days(self) -> f64 {
        match self {
            DateStep::Days(n) => n as f64,
            DateStep::Months(m) => 28.0 * f64::from(m),
        }
    }

    /// The study days of its ticks from study day `lo` to `hi`, day 1 being `start`.
    fn ticks(self, start: NaiveDate, lo: f64, hi: f64) -> Vec<f64> {
        let (lo, hi) = (lo.ceil().max(1.0) as i64, hi.floor() as i64);
        match self {
            DateStep::Days(n) => (0..)
                .map(|k| 1 + k * n)
                .skip_while(|d| *d < lo)
                .take_while(|d| *d <= hi)
                .map(|d| d as f64)
                .collect(),
            DateStep::Months(m) => {
                let day = |date: NaiveDate| crate::timing::day_of_date(start, date);
                let first = start.with_day(1).unwrap_or(start);
                (0..)
                    .map_while(|k| first.checked_add_months(chrono::Months::new(k)))
                    .filter(|d| (d.year() * 12 + d.month0() as i32).rem_euclid(m as i32) == 0)
                    .map(day)
                    .skip_while(|d| *d < lo)
                    .take_while(|d| *d <= hi)
                    .map(|d| d as f64)
                    .collect()
            }
        }
    }
}

/// Ticks of a date axis over study days `range` (day 1 being `start`), `axis_px` pixels
/// wide, with labels up to `label_px` wide: at the finest even step whose labels keep
/// apart, fixed steps of days from day 1 or month starts, so that equal gaps on the axis
/// are equal stretches of time.
pub fn date_ticks(start: NaiveDate, range: (f64, f64), axis_px: f64, label_px: f64) -> Vec<f64> {
    let (lo, hi) = range;
    let px_per_day = axis_px / (hi - lo).max(1.0);
    let step = DATE_STEPS
        .into_iter()
        .find(|s| s.min_days() * px_per_day >= label_px + 16.0)
        .unwrap_or(DateStep::Months(12));
    let ticks = step.ticks(start, lo, hi);
    if ticks.is_empty() {
        // A narrow axis between two month starts: its first day alone.
        return vec![lo.ceil().max(1.0)];
    }
    ticks
}

/// Ticks for a linear axis from 0 to at least `max`, and the axis top (the last tick, so
/// the plot ends on a labelled line).
pub fn linear_ticks(max: f64, target: usize) -> (Vec<f64>, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let step = nice_step(max * 1.04, target);
    let n = (max * 1.04 / step).ceil().max(1.0) as usize;
    let ticks: Vec<f64> = (0..=n).map(|k| k as f64 * step).collect();
    let top = ticks[n];
    (ticks, top)
}

/// A power of ten as a label: "10⁴".
pub fn pow10_label(exp: i32) -> String {
    format!("10{}", superscript(exp))
}

/// A readable axis number: 0, 500, 2.5 x 10⁶, 1 x 10⁷.
pub fn sci_label(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    if v.abs() < 1000.0 {
        return trim_decimals(v, 2);
    }
    let mut exp = v.abs().log10().floor() as i32;
    let mut mant = v / 10f64.powi(exp);
    // log10 of 1e6 can come out a hair under 6: keep the mantissa in [1, 10).
    if mant.abs() >= 9.9995 {
        exp += 1;
        mant /= 10.0;
    }
    format!("{} x {}", trim_decimals(mant, 2), pow10_label(exp))
}

/// The day axis of a chart: its title, and study day 1's date when its ticks are dates.
/// A start given makes a date axis. Without one, a month-based schedule is drawn from
/// [`super::DEFAULT_START`] (its days depend on the months' lengths), so its axis reads
/// those dates and says day 1 was taken as that date; any other reads study days.
pub fn day_axis(start: Option<NaiveDate>, monthly: bool) -> (String, Option<NaiveDate>) {
    let day = |d: NaiveDate| format!("{} {d}", crate::timing::weekday_abbrev(d));
    match (start, monthly) {
        (Some(s), _) => (format!("Date (study day 1 = {})", day(s)), Some(s)),
        (None, true) => {
            let d = super::DEFAULT_START;
            (format!("Date (study day 1 taken as {})", day(d)), Some(d))
        }
        (None, false) => ("Study day".to_string(), None),
    }
}

/// A study day as an axis label: the day number, or its date when a start is given.
pub fn day_label(day: f64, start: Option<NaiveDate>) -> String {
    let d = day.round() as i64;
    match start {
        None => d.to_string(),
        Some(s) => s
            .checked_add_signed(chrono::Duration::days(d - 1))
            .map_or_else(|| d.to_string(), |date| date.to_string()),
    }
}

/// The short name of a cell product for titles: its id in capitals, "uc_msc" -> "UC-MSC".
pub fn product_short(id: &str) -> String {
    id.to_uppercase().replace('_', "-")
}

/// Weight for titles: 62.5 kg, 60 kg.
pub fn kg(w: f64) -> String {
    format!("{} kg", trim_decimals(w, 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_numbers_read_like_labels() {
        assert_eq!(sci_label(0.0), "0");
        assert_eq!(sci_label(500.0), "500");
        assert_eq!(sci_label(2.5e6), "2.5 x 10⁶");
        assert_eq!(sci_label(1e7), "1 x 10⁷");
        assert_eq!(sci_label(7.5e7), "7.5 x 10⁷");
        assert_eq!(sci_label(3.0 * 0.1e6 * 10.0), "3 x 10⁶");
        assert_eq!(sci_label(3e8), "3 x 10⁸");
        assert_eq!(sci_label(1.25e12), "1.25 x 10¹²");
        assert_eq!(sci_label(-4e9), "-4 x 10⁹");
    }

    #[test]
    fn exponents_are_superscript_digits() {
        assert_eq!(pow10_label(4), "10⁴");
        assert_eq!(pow10_label(10), "10¹⁰");
        assert_eq!(pow10_label(0), "10⁰");
        assert_eq!(pow10_label(-3), "10⁻³");
        assert_eq!(superscript(1234567890), "¹²³⁴⁵⁶⁷⁸⁹⁰");
        assert_eq!(trim_decimals(2.50, 2), "2.5");
        assert_eq!(trim_decimals(2000.0, 2), "2000");
        assert_eq!(trim_decimals(62.456, 2), "62.46");
        assert_eq!(kg(62.5), "62.5 kg");
    }

    #[test]
    fn ticks_are_round_and_cover_the_data() {
        let (t, top) = linear_ticks(4.8e6, 6);
        assert_eq!(t.first(), Some(&0.0));
        assert!(top >= 4.8e6);
        assert!(t.len() <= 9, "{t:?}");
        let days = day_ticks((0.0, 300.0), 800.0, 25.0);
        assert_eq!(days[0], 1.0);
        assert!(days.contains(&50.0) && days.contains(&300.0), "{days:?}");
        assert_eq!(
            day_ticks((0.0, 8.0), 800.0, 10.0),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
        );
        // Date labels are wide: fewer ticks, and day 1 only when it does not collide.
        let dates = day_ticks((0.0, 26.0), 440.0, 75.0);
        assert!(dates.len() <= 5, "{dates:?}");
        assert!(!dates.contains(&1.0) || dates[1] >= 10.0, "{dates:?}");
    }

    #[test]
    fn date_ticks_step_evenly_by_weeks_or_month_starts() {
        let s = NaiveDate::from_ymd_opt(2026, 12, 30).unwrap();
        let date = |d: f64| s + chrono::Duration::days(d as i64 - 1);
        // 40 days on 600 pixels: weekly from day 1, on its weekday.
        let weekly = date_ticks(s, (0.0, 40.0), 600.0, 75.0);
        assert_eq!(weekly, vec![1.0, 8.0, 15.0, 22.0, 29.0, 36.0]);
        // A year: the first of every second month (the 1st of each month is too tight).
        let months = date_ticks(s, (0.0, 380.0), 650.0, 75.0);
        let dates: Vec<NaiveDate> = months.iter().map(|d| date(*d)).collect();
        assert!(dates.len() >= 5, "{dates:?}");
        assert!(
            dates.iter().all(|d| d.day() == 1 && d.month0() % 2 == 0),
            "{dates:?}"
        );
        // Five years: January the 1st.
        let years = date_ticks(s, (0.0, 1830.0), 650.0, 75.0);
        let dates: Vec<NaiveDate> = years.iter().map(|d| date(*d)).collect();
        assert!(dates.iter().all(|d| d.ordinal() == 1), "{dates:?}");
        assert_eq!(dates.len(), 6, "2027 to 2032: {dates:?}");
        // Never an empty axis.
        assert_eq!(date_ticks(s, (0.0, 9.0), 60.0, 75.0), vec![1.0]);
    }

    #[test]
    fn the_axis_title_says_which_date_day_1_is() {
        let s = NaiveDate::from_ymd_opt(2026, 12, 30);
        assert_eq!(
            day_axis(s, false),
            ("Date (study day 1 = Wed 2026-12-30)".to_string(), s)
        );
        let (title, from) = day_axis(None, true);
        assert_eq!(title, "Date (study day 1 taken as Thu 2026-01-01)");
        assert_eq!(from, Some(super::super::DEFAULT_START));
        assert_eq!(day_axis(None, false), ("Study day".to_string(), None));
    }

    #[test]
    fn dates_count_from_study_day_one() {
        let s = NaiveDate::from_ymd_opt(2026, 12, 30).unwrap();
        assert_eq!(day_label(1.0, Some(s)), "2026-12-30");
        assert_eq!(day_label(3.0, Some(s)), "2027-01-01");
        assert_eq!(day_label(3.0, None), "3");
        assert_eq!(product_short("uc_msc"), "UC-MSC");
    }
}
