//! The preparation sheet ([`crate::sheet`]) as a terminal table and as CSV. The printable
//! HTML sheet is `sheet_html.rs`.
//!
//! CSV: one row per dose (`line` = `dose`), then one per product and day (`line` =
//! `day_total`), then one per dose held that day (`line` = `held`: not to prepare, in no
//! total), so a spreadsheet reads the sheet as printed; filter on `line` before adding up
//! a column.

use std::io::Write;

use comfy_table::{CellAlignment, presets};

use super::columns::{Col, col, write_csv as write_csv_rows};
use crate::format::{Amount, inert, sci, trim_decimals};
use crate::model::{Product, Unit};
use crate::sheet::{Block, Combined, Concentration, Day, Line, Sheet, SiteDay};
use crate::timing::weekday_abbrev;

/// The amount in `product`'s unit, as plain digits.
fn plain(product: &Product, v: f64) -> String {
    Amount {
        value: v,
        unit: product.unit,
    }
    .plain()
}

/// A dose as the sheets print it: every cell counted, then the figure a clinician reads:
/// "31200000 (3.12 x 10⁷)"; "2000" for mL.
pub fn exact(product: &Product, v: f64) -> String {
    match exact_parts(product, v) {
        (digits, Some(read)) => format!("{digits} ({read})"),
        (digits, None) => digits,
    }
}

/// [`exact`]'s two parts: the digits, and for cells the scientific figure.
pub fn exact_parts(product: &Product, v: f64) -> (String, Option<String>) {
    match product.unit {
        Unit::Cells => (plain(product, v), Some(sci(v))),
        Unit::Ml => (plain(product, v), None),
    }
}

/// The volume cell of a sheet, to the hundredth of a mL it is drawn to ("31.20"), or
/// `unknown` where none can be computed.
pub fn volume(v: Option<f64>, unknown: &str) -> String {
    v.map_or_else(|| unknown.to_string(), |v| format!("{v:.2}"))
}

/// The header of a block's dose, volume and cumulative columns, with their units.
pub fn unit_headers(product: &Product, c: Concentration) -> [String; 3] {
    let unit = product.unit.as_str();
    let vol = match c {
        Concentration::Scenario(x) => {
            format!("Volume to draw (mL, at {} cells/mL, scenario)", sci(x))
        }
        Concentration::Given(x) => {
            format!(
                "Volume to draw (mL, at {} cells/mL, --concentration)",
                sci(x)
            )
        }
        Concentration::Millilitres | Concentration::Unknown => "Volume to draw (mL)".to_string(),
    };
    [
        format!("Dose ({unit})"),
        vol,
        format!("Cumulative after it ({unit})"),
    ]
}

/// A line's flags in words: "due; shifted; assumed: dose".
pub fn flags(l: &Line) -> String {
    let mut parts = Vec::new();
    if l.status == crate::record::Status::Due {
        parts.push("due (not recorded as given)".to_string());
    }
    if l.status == crate::record::Status::Held {
        parts.push(
            "held: too close to the dose given before it, with no day in its window that keeps the minimum gap; record what was decided (given on a date, or missed)".to_string(),
        );
    }
    if l.planned_date != l.date {
        parts.push(format!(
            "planned {} {}",
            weekday_abbrev(l.planned_date),
            l.planned_date
        ));
    }
    if !l.flags.is_empty() {
        // In words: a printed column wraps at spaces, not inside closed_day.
        parts.push(l.flags.codes().replace(';', "; ").replace('_', " "));
    }
    if !l.assumed.is_empty() {
        parts.push(format!("assumed: {}", l.assumed));
    }
    for w in &l.warnings {
        parts.push(format!("check: {w}"));
    }
    parts.join("; ")
}

/// The weight a dose is computed at: "62.5", "58 (recorded 2026-09-14)".
pub fn weight_words(l: &Line) -> String {
    match l.weight_date {
        Some(d) => format!("{} (recorded {d})", l.weight_kg),
        None => l.weight_kg.to_string(),
    }
}

/// The dose per kg as a clinician reads it ("1.20 x 10⁶"), or "flat" for a dose that is not
/// weight-based.
pub fn per_kg_words(l: &Line) -> String {
    l.dose_per_kg
        .map_or_else(|| "flat dose".to_string(), crate::format::sci_exact)
}

/// The header of the per-kg column, with its unit: "Dose per kg (cells/kg)".
pub fn per_kg_header(product: &Product) -> String {
    format!("Dose per kg ({}/kg)", product.unit.as_str())
}

/// The site as a heading names it.
pub fn site_words(site: &str) -> String {
    if site.is_empty() {
        "no site (every day open)".to_string()
    } else {
        format!("site {site}")
    }
}

/// A day's heading: "Tue 2027-01-19, site SH-RENJI".
pub fn day_heading(d: &Day) -> String {
    format!(
        "{} {}, {}",
        weekday_abbrev(d.date),
        d.date,
        site_words(&d.site)
    )
}

/// A closed day's banner: "CLOSED: National Day 国庆节. Site GZ-SYSU is closed on this
/// date; these doses were left on it ...".
pub fn closed_words(d: &Day) -> Option<String> {
    let closure = d.closure.as_ref()?;
    Some(format!(
        "CLOSED: {closure}. {} is closed on this date: the doses below were left on it (the Flags say why). Arrange the preparation and the visit, or record what was decided.",
        capitalised(&site_words(&d.site))
    ))
}

/// `s` with its first letter in capitals.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The total line of a block: "3 doses, 93600000 cells (9.36 x 10⁷), 93.6 mL".
pub fn total_words(product: &Product, b: &Block) -> String {
    let vol = match (product.unit, b.volume_ml) {
        // A dose in mL is its volume: said once.
        (Unit::Ml, _) => String::new(),
        (_, Some(v)) => format!(", {v:.2} mL"),
        (_, None) => ", volume: no concentration known".to_string(),
    };
    let mut s = format!(
        "{}, {} {}{vol}",
        crate::format::plural(b.lines.len() as u64, "dose"),
        exact(product, b.total),
        product.unit.as_str()
    );
    if !b.assumed.is_empty() {
        s.push_str(&format!(" [assumed: {}]", b.assumed));
    }
    s
}

/// What the sheet covers, for its first lines.
pub fn scope_words(s: &Sheet) -> Vec<String> {
    let mut out = vec![format!("{}: preparation sheet, {}", s.trial.id, s.scope())];
    if let Some(a) = s.as_of {
        out.push(format!(
            "Administration record as of {a}: doses recorded as given, missed or cancelled are not listed ({} in this range).",
            s.off_list
        ));
    }
    if let Some((n, first)) = s.held_before {
        out.push(format!(
            "Held: {} before this range (the first on {} {first}) still {} for a decision (record each given on a date, or missed); not on this sheet.",
            crate::format::plural(n as u64, "dose"),
            weekday_abbrev(first),
            if n == 1 { "waits" } else { "wait" },
        ));
    }
    if let Some((n, first)) = s.overdue_before {
        let (is, they) = if n == 1 {
            ("is", "it is")
        } else {
            ("are", "they are")
        };
        out.push(format!(
            "Overdue: {} before this range (the first on {} {first}) {is} not recorded as given; {they} not on this sheet.",
            crate::format::plural(n as u64, "dose"),
            weekday_abbrev(first),
        ));
    }
    out
}

pub fn table(s: &Sheet) -> String {
    let mut out = scope_words(s).join("\n");
    out.push('\n');
    if s.days.is_empty() {
        out.push_str("\nNo dose to prepare.\n");
        return out;
    }
    for d in &s.days {
        out.push_str(&format!("\n{}\n", day_heading(d)));
        if let Some(c) = closed_words(d) {
            out.push_str(&format!("{c}\n"));
        }
        day_table(s, d, false, &mut out);
    }
    out
}

/// Several trials' sheets for one site as one terminal table: each date's page holds every
/// trial's doses (a Trial column on each row), then the day's totals across the trials.
pub fn table_combined(c: &Combined) -> String {
    let mut out = combined_scope(c).join("\n");
    out.push('\n');
    let days = c.days();
    if days.is_empty() {
        out.push_str("\nNo dose to prepare.\n");
        return out;
    }
    for day in &days {
        let (_, first) = day.parts[0];
        out.push_str(&format!("\n{}\n", day_heading(first)));
        if let Some(c) = day.parts.iter().find_map(|(_, d)| closed_words(d)) {
            out.push_str(&format!("{c}\n"));
        }
        for (s, d) in &day.parts {
            out.push_str(&format!("Trial {}: {}\n", s.trial.id, s.trial.title));
            day_table(s, d, true, &mut out);
        }
        for t in all_trials_totals(day) {
            out.push_str(&format!("{t}\n"));
        }
    }
    out
}

/// What a site's sheet across trials covers, for its first lines: each trial's own lines.
pub fn combined_scope(c: &Combined) -> Vec<String> {
    let ids: Vec<&str> = c.sheets.iter().map(|s| s.trial.id.as_str()).collect();
    let mut out = vec![format!(
        "Preparation sheet of {} ({}), {}",
        crate::format::plural(ids.len() as u64, "trial"),
        ids.join(", "),
        c.sheets.first().map(Sheet::scope).unwrap_or_default()
    )];
    for s in &c.sheets {
        out.extend(
            scope_words(s)
                .into_iter()
                .skip(1)
                .map(|l| format!("{}: {l}", s.trial.id)),
        );
    }
    out
}

/// The day's totals across the trials, a line per unit: "All trials' total (cells): 5
/// doses, ...". Each trial's product is its own lot: prepare by the trials' blocks.
pub fn all_trials_totals(day: &SiteDay) -> Vec<String> {
    day.totals()
        .into_iter()
        .map(|t| {
            let vol = match (t.unit, t.volume_ml) {
                (Unit::Ml, _) => String::new(),
                (_, Some(v)) => format!(", {v:.2} mL"),
                (_, None) => ", volume: a concentration is not known".to_string(),
            };
            let digits = Amount {
                value: t.total,
                unit: t.unit,
            }
            .plain();
            let amount = match t.unit {
                Unit::Cells => format!("{digits} ({})", sci(t.total)),
                Unit::Ml => digits,
            };
            format!(
                "All trials' total ({}): {}, {} {}{vol}",
                t.unit.as_str(),
                crate::format::plural(t.doses as u64, "dose"),
                amount,
                t.unit.as_str()
            )
        })
        .collect()
}

/// A day's blocks (with a Trial column when `with_trial`), its rules and its held doses.
fn day_table(s: &Sheet, d: &Day, with_trial: bool, out: &mut String) {
    for b in &d.blocks {
        let p = &s.trial.products[b.product];
        out.push_str(&format!(
            "{} ({}); concentration: {}\n",
            p.name,
            p.id,
            b.concentration.words(p)
        ));
        let mut t = comfy_table::Table::new();
        t.load_style(presets::ASCII_MARKDOWN);
        let [dose_h, vol_h, cum_h] = unit_headers(p, b.concentration);
        let mut header = vec![
            "Patient".to_string(),
            "Arm".to_string(),
            "Component".to_string(),
            "Dose n/N".to_string(),
            "Weight (kg)".to_string(),
            per_kg_header(p),
            dose_h,
            vol_h,
            cum_h,
            "Flags".to_string(),
        ];
        if with_trial {
            header.insert(0, "Trial".to_string());
        }
        t.set_header(header);
        for l in &b.lines {
            let mut row = vec![
                l.patient_id.clone(),
                l.arm_id.clone(),
                l.component.clone(),
                format!("{}/{}", l.occurrence, l.occurrences),
                weight_words(l),
                per_kg_words(l),
                exact(p, l.dose),
                volume(l.volume_ml, "no concentration known"),
                l.cumulative.map(|c| exact(p, c)).unwrap_or_default(),
                flags(l),
            ];
            if with_trial {
                row.insert(0, s.trial.id.clone());
            }
            t.add_row(row);
        }
        let shift = usize::from(with_trial);
        for c in [4, 5, 6, 7, 8] {
            if let Some(col) = t.column_mut(c + shift) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
        out.push_str(&t.to_string());
        out.push_str(&format!("\nDay total: {}\n", total_words(p, b)));
    }
    for r in arm_rules(s.trial, d) {
        out.push_str(&format!("Rule: {r}\n"));
    }
    if !d.held.is_empty() {
        out.push_str(HELD_HEADING);
        out.push('\n');
        for (product, l) in &d.held {
            out.push_str(&format!(
                "- {}\n",
                held_words(&s.trial.products[*product], l)
            ));
        }
    }
}

/// The rules of the arms whose doses are on a day's page (their notes in the record's
/// words, each with its code, once for the arms that share it): "arms low, high,
/// stop_on_sae: Stop the intervention if ...".
pub fn arm_rules(trial: &crate::model::Trial, d: &Day) -> Vec<String> {
    let mut arms: Vec<&str> = d
        .blocks
        .iter()
        .flat_map(|b| &b.lines)
        .chain(d.held.iter().map(|(_, l)| l))
        .map(|l| l.arm_id.as_str())
        .collect();
    arms.sort_unstable();
    arms.dedup();
    // The same rule of several arms is said once, with its arms.
    let mut rules: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for arm in trial.arms.iter().filter(|a| arms.contains(&a.id.as_str())) {
        for (n, code) in arm.notes.iter().zip(&arm.note_codes) {
            match rules.iter_mut().find(|r| r.0 == code && r.1 == n) {
                Some(r) => r.2.push(&arm.id),
                None => rules.push((code, n, vec![&arm.id])),
            }
        }
    }
    rules
        .into_iter()
        .map(|(code, n, arms)| {
            let which = if arms.len() == 1 { "arm" } else { "arms" };
            format!("{which} {}, {code}: {n}", arms.join(", "))
        })
        .collect()
}

/// The heading of a day's held doses.
pub const HELD_HEADING: &str =
    "Held, not to prepare until a decision is recorded (not in the day's total):";

/// A held dose in a sentence: "P1 hUC-MSC infusion 3/4, 84000000 cells (8.40 x 10⁷): ...".
pub fn held_words(p: &Product, l: &Line) -> String {
    format!(
        "{} {} {}/{}, {} {}: {}",
        l.patient_id,
        l.component,
        l.occurrence,
        l.occurrences,
        exact(p, l.dose),
        p.unit.as_str(),
        flags(l)
    )
}

/// A row of the sheet CSV: a dose to prepare, a product's day total, or a dose held.
pub enum SheetRow<'a> {
    /// A dose line (`line` = `dose`, counted once in `doses`).
    Dose(&'a Day, &'a Block, &'a Line),
    /// A product's total for the day (`day_total`).
    Total(&'a Day, &'a Block),
    /// A dose held (`held`: counted 0 times, with no volume, in no total).
    Held(&'a Day, &'a Line),
}

impl<'a> SheetRow<'a> {
    fn day(&self) -> &'a Day {
        match self {
            SheetRow::Dose(d, ..) | SheetRow::Total(d, _) | SheetRow::Held(d, _) => d,
        }
    }

    fn line(&self) -> Option<&'a Line> {
        match self {
            SheetRow::Dose(_, _, l) | SheetRow::Held(_, l) => Some(l),
            SheetRow::Total(..) => None,
        }
    }

    fn block(&self) -> Option<&'a Block> {
        match self {
            SheetRow::Dose(_, b, _) | SheetRow::Total(_, b) => Some(b),
            SheetRow::Held(..) => None,
        }
    }
}

/// A [`SheetRow`] with its product: what the CSV's cells read.
pub struct SheetCells<'a> {
    pub row: SheetRow<'a>,
    pub product: &'a Product,
    /// The trial the row is of.
    pub trial: &'a str,
}

impl SheetCells<'_> {
    /// A cell of the dose or held line; empty on a day total.
    fn of_line(&self, f: impl Fn(&Line) -> String) -> String {
        self.row.line().map(f).unwrap_or_default()
    }

    /// A cell of the block's concentration; empty on a held line.
    fn of_block(&self, f: impl Fn(&Block) -> String) -> String {
        self.row.block().map(f).unwrap_or_default()
    }
}

/// A volume to the hundredth of a mL, or empty.
fn ml(v: Option<f64>) -> String {
    v.map(|v| trim_decimals(v, 2)).unwrap_or_default()
}

/// The sheet CSV's columns, each named beside its cell.
pub fn columns<'a>() -> [Col<SheetCells<'a>>; 27] {
    [
        col("line", |c| {
            match c.row {
                SheetRow::Dose(..) => "dose",
                SheetRow::Total(..) => "day_total",
                SheetRow::Held(..) => "held",
            }
            .to_string()
        }),
        col("date", |c| c.row.day().date.to_string()),
        col("weekday", |c| weekday_abbrev(c.row.day().date).to_string()),
        col("site", |c| inert(&c.row.day().site).into_owned()),
        col("product", |c| inert(&c.product.id).into_owned()),
        col("patient_id", |c| {
            c.of_line(|l| inert(&l.patient_id).into_owned())
        }),
        col("arm_id", |c| c.of_line(|l| inert(&l.arm_id).into_owned())),
        col("component", |c| {
            c.of_line(|l| inert(&l.component_id).into_owned())
        }),
        col("occurrence", |c| c.of_line(|l| l.occurrence.to_string())),
        col("occurrences", |c| c.of_line(|l| l.occurrences.to_string())),
        col("doses", |c| match c.row {
            SheetRow::Dose(..) => "1".to_string(),
            SheetRow::Total(_, b) => b.lines.len().to_string(),
            SheetRow::Held(..) => "0".to_string(),
        }),
        col("dose", |c| match c.row {
            SheetRow::Total(_, b) => plain(c.product, b.total),
            SheetRow::Dose(_, _, l) | SheetRow::Held(_, l) => plain(c.product, l.dose),
        }),
        col("dose_unit", |c| c.product.unit.as_str().to_string()),
        col("volume_ml", |c| match c.row {
            SheetRow::Dose(_, _, l) => ml(l.volume_ml),
            SheetRow::Total(_, b) => ml(b.volume_ml),
            SheetRow::Held(..) => String::new(),
        }),
        col("concentration_cells_per_ml", |c| {
            c.of_block(|b| ml(b.concentration.cells_per_ml()))
        }),
        col("concentration_source", |c| {
            c.of_block(|b| b.concentration.source().to_string())
        }),
        col("cumulative_dose", |c| {
            c.of_line(|l| {
                l.cumulative
                    .map(|x| plain(c.product, x))
                    .unwrap_or_default()
            })
        }),
        col("status", |c| c.of_line(|l| l.status.as_str().to_string())),
        col("assumed", |c| match c.row {
            SheetRow::Total(_, b) => b.assumed.to_string(),
            SheetRow::Dose(_, _, l) | SheetRow::Held(_, l) => l.assumed.to_string(),
        }),
        col("flags", |c| c.of_line(|l| l.flags.codes())),
        col("planned_date", |c| {
            c.of_line(|l| l.planned_date.to_string())
        }),
        col("weight_kg", |c| c.of_line(|l| l.weight_kg.to_string())),
        col("weight_date", |c| {
            c.of_line(|l| l.weight_date.map(|d| d.to_string()).unwrap_or_default())
        }),
        col("dose_per_kg", |c| {
            c.of_line(|l| l.dose_per_kg.map(crate::format::shown).unwrap_or_default())
        }),
        col("patient_warnings", |c| {
            c.of_line(|l| inert(&l.warnings.join("; ")).into_owned())
        }),
        col("closed_day", |c| {
            inert(c.row.day().closure.as_deref().unwrap_or_default()).into_owned()
        }),
        // Last, so that a script reading the columns before it by place still works.
        col("trial_id", |c| inert(c.trial).into_owned()),
    ]
}

/// The sheet's CSV rows, in the order printed: each day's blocks (their doses, then the
/// day total), then the day's held doses.
pub fn csv_rows<'a>(s: &'a Sheet) -> impl Iterator<Item = SheetCells<'a>> {
    s.days.iter().flat_map(move |d| day_rows(s, d))
}

/// A day's CSV rows of one trial: its blocks (their doses, then the day total), then its
/// held doses.
fn day_rows<'a>(s: &'a Sheet, d: &'a Day) -> impl Iterator<Item = SheetCells<'a>> {
    let trial = s.trial.id.as_str();
    let blocks = d.blocks.iter().flat_map(move |b| {
        let product = &s.trial.products[b.product];
        b.lines
            .iter()
            .map(move |l| SheetRow::Dose(d, b, l))
            .chain([SheetRow::Total(d, b)])
            .map(move |row| SheetCells {
                row,
                product,
                trial,
            })
    });
    let held = d.held.iter().map(move |(p, l)| SheetCells {
        row: SheetRow::Held(d, l),
        product: &s.trial.products[*p],
        trial,
    });
    blocks.chain(held)
}

pub fn write_csv(s: &Sheet, out: impl Write) -> csv::Result<()> {
    write_csv_rows(out, &columns(), csv_rows(s))
}

/// Several trials' sheets for one site as one CSV: date by date, each trial's rows in
/// turn (`trial_id` says whose). A day's total across the trials is left to the reader:
/// each trial's product is its own lot.
pub fn write_csv_combined(c: &Combined, out: impl Write) -> csv::Result<()> {
    let days = c.days();
    let rows = days
        .iter()
        .flat_map(|day| day.parts.iter().flat_map(|(s, d)| day_rows(s, d)));
    write_csv_rows(out, &columns(), rows)
}
