//! The pharmacy's preparation sheet: for each scheduled date and site, each product to
//! prepare, every dose still to give (patient, arm, component, occurrence n/N, dose,
//! volume to draw, the patient's cumulative dose after it, flags) and the day's totals.
//!
//! A pure function of a [`Cohort`] and a [`Request`]: the doses are the cohort's own
//! events, the same the calendars and pharmacy.csv show. With an administration record,
//! what was given, missed or cancelled is off the list (it is not to be prepared); an
//! overdue dose stays, marked due; a dose held by the gap to one given late is listed
//! apart, not to prepare until someone decides. The formats are in `export/sheet.rs` (table, CSV) and
//! `export/sheet_html.rs` (the printable sheet).

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::cohort::Cohort;
use crate::format::sci;
use crate::model::{Assumed, Product, Trial, Unit};
use crate::moves::Flags;
use crate::record::Status;
use crate::schedule::{Event, Origin};

/// What to put on a sheet.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The first and last dates (both included; `None`: no bound).
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
    /// One site's patients only.
    pub site: Option<String>,
    /// A concentration for the lot on hand, by product index (`--concentration`): it
    /// overrides the scenario's.
    pub concentrations: Vec<Option<f64>>,
}

/// The concentration a volume is computed from, and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Concentration {
    /// The scenario's `concentration_cells_per_ml`.
    Scenario(f64),
    /// `--concentration PRODUCT=CELLS_PER_ML`: the lot on hand.
    Given(f64),
    /// A product dosed in mL: the dose is the volume.
    Millilitres,
    /// A product in cells with no concentration known: no volume.
    Unknown,
}

impl Concentration {
    /// The concentration of `product`: the one given for it, else the scenario's.
    pub fn of(product: &Product, given: Option<f64>) -> Self {
        match (product.unit, given, product.concentration_cells_per_ml) {
            (Unit::Ml, _, _) => Concentration::Millilitres,
            (Unit::Cells, Some(c), _) => Concentration::Given(c),
            (Unit::Cells, None, Some(c)) => Concentration::Scenario(c),
            (Unit::Cells, None, None) => Concentration::Unknown,
        }
    }

    /// The volume, in mL, of `dose` (in the product's unit), to the hundredth of a mL
    /// it is drawn to.
    pub fn volume_ml(self, dose: f64) -> Option<f64> {
        let v = match self {
            Concentration::Scenario(c) | Concentration::Given(c) => dose / c,
            Concentration::Millilitres => dose,
            Concentration::Unknown => return None,
        };
        Some((v * 100.0).round() / 100.0)
    }

    /// In cells/mL, when there is one.
    pub fn cells_per_ml(self) -> Option<f64> {
        match self {
            Concentration::Scenario(c) | Concentration::Given(c) => Some(c),
            _ => None,
        }
    }

    /// Where it comes from, as the CSV says it: `scenario`, `command line` (with
    /// `--concentration`: a cell starting with `-` would be a formula to a spreadsheet),
    /// `dose in mL`, `none known`.
    pub fn source(self) -> &'static str {
        match self {
            Concentration::Scenario(_) => "scenario",
            Concentration::Given(_) => "command line",
            Concentration::Millilitres => "dose in mL",
            Concentration::Unknown => "none known",
        }
    }

    /// A sentence for the sheet: "1.00 x 10⁶ cells/mL (from the scenario)", ...
    pub fn words(self, product: &Product) -> String {
        match self {
            Concentration::Scenario(c) => format!("{} cells/mL (from the scenario)", sci(c)),
            Concentration::Given(c) => format!("{} cells/mL (given with --concentration)", sci(c)),
            Concentration::Millilitres => "dosed in mL: the dose is the volume".to_string(),
            Concentration::Unknown => format!(
                "none known: the scenario states none; give the lot's with --concentration {}=CELLS_PER_ML",
                product.id
            ),
        }
    }
}

/// One dose to prepare.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub patient_id: String,
    pub arm_id: String,
    /// The component's id and name.
    pub component_id: String,
    pub component: String,
    pub occurrence: u32,
    pub occurrences: u32,
    /// In the product's unit (whole cells, or mL).
    pub dose: f64,
    /// To the hundredth of a mL.
    pub volume_ml: Option<f64>,
    /// The patient's cumulative dose of the component's product after this one.
    pub cumulative: Option<f64>,
    /// `planned`, `due` (on or before the record's as-of date, not recorded as given), or
    /// `held` (listed apart, not to prepare).
    pub status: Status,
    pub assumed: Assumed,
    /// What the site calendar did: `shifted`, `closed_day`, `provisional`, ...
    pub flags: Flags,
    /// The date the regimen gives, before a site calendar moved it.
    pub planned_date: NaiveDate,
}

/// One product's doses on one date at one site.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Index into the trial's products.
    pub product: usize,
    pub concentration: Concentration,
    pub lines: Vec<Line>,
    /// The sum of the doses, in the product's unit.
    pub total: f64,
    /// The sum of the volumes as drawn, each to the hundredth of a mL (`None` when no
    /// concentration is known): the total is what the rows add up to.
    pub volume_ml: Option<f64>,
    /// The assumed values behind the day's doses (an earlier dose in a running total is
    /// not in a day's total).
    pub assumed: Assumed,
}

/// One date at one site.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    pub date: NaiveDate,
    /// The patients' site ("" for patients without one).
    pub site: String,
    /// In the scenario's product order.
    pub blocks: Vec<Block>,
    /// Doses held on this date: a dose given late leaves them no day in their window
    /// that keeps the minimum gap, so they are not to be prepared until someone records
    /// what was decided. Listed, never in a total.
    pub held: Vec<(usize, Line)>,
}

/// A preparation sheet.
#[derive(Debug, Clone)]
pub struct Sheet<'t> {
    pub trial: &'t Trial,
    pub request: Request,
    /// In date order, then site.
    pub days: Vec<Day>,
    /// The administration record's as-of date, when one was applied.
    pub as_of: Option<NaiveDate>,
    /// Doses in the range and site that are off the list: given, missed or cancelled
    /// (held ones are listed apart, under their day).
    pub off_list: usize,
    /// Doses of the site due before the range and not recorded as given (with a record):
    /// how many, and the earliest one's date.
    pub overdue_before: Option<(usize, NaiveDate)>,
    /// Doses of the site held for a decision before the range and still undecided: how
    /// many, and the earliest one's date.
    pub held_before: Option<(usize, NaiveDate)>,
}

impl Sheet<'_> {
    /// The range in words: "Tue 2027-01-19", "Mon 2027-01-18 to Sun 2027-01-24", "every
    /// scheduled date".
    pub fn range_words(&self) -> String {
        let d = |x: NaiveDate| format!("{} {x}", crate::timing::weekday_abbrev(x));
        match (self.request.first, self.request.last) {
            (Some(a), Some(b)) if a == b => d(a),
            (Some(a), Some(b)) => format!("{} to {}", d(a), d(b)),
            (Some(a), None) => format!("from {} on", d(a)),
            (None, Some(b)) => format!("up to {}", d(b)),
            (None, None) => "every scheduled date".to_string(),
        }
    }

    /// The range and site in words: "Mon 2027-01-18 to Sun 2027-01-24, site SH-RENJI".
    pub fn scope(&self) -> String {
        match &self.request.site {
            Some(site) => format!("{}, site {site}", self.range_words()),
            None => self.range_words(),
        }
    }

    /// How many doses are held on the sheet's dates (listed, not to prepare).
    pub fn held(&self) -> usize {
        self.days.iter().map(|d| d.held.len()).sum()
    }

    /// How many doses the sheet lists to prepare.
    pub fn doses(&self) -> usize {
        self.days
            .iter()
            .flat_map(|d| &d.blocks)
            .map(|b| b.lines.len())
            .sum()
    }
}

/// Whether a dose with this status is still to prepare.
fn to_prepare(s: Status) -> bool {
    matches!(s, Status::Planned | Status::Due)
}

/// The sheet of `cohort` for `request`.
pub fn build<'t>(cohort: &Cohort<'t>, request: &Request) -> Sheet<'t> {
    let trial = cohort.trial;
    let roster = cohort.roster;
    let mut days: BTreeMap<(NaiveDate, String), BTreeMap<usize, Block>> = BTreeMap::new();
    let mut held: BTreeMap<(NaiveDate, String), Vec<(usize, Line)>> = BTreeMap::new();
    let mut off_list = 0;
    // Overdue doses before the range are on nobody's list unless the sheet says so.
    let mut overdue: Option<(usize, NaiveDate)> = None;
    // And doses held for a decision before it: still waiting for one.
    let mut held_before: Option<(usize, NaiveDate)> = None;
    let mut events: Vec<Event> = Vec::new();
    let concentration = |p: usize| {
        Concentration::of(
            &trial.products[p],
            request.concentrations.get(p).copied().flatten(),
        )
    };
    let in_range =
        |d: NaiveDate| request.first.is_none_or(|f| d >= f) && request.last.is_none_or(|l| d <= l);
    // The patients with events in the range (with a record, from the start, for the
    // overdue ones), each expanded once, in id order: a day's lines come in that order.
    let from = if cohort.log.is_some() {
        None
    } else {
        request.first
    };
    let mut patients: Vec<u32> = cohort
        .days_between(from, request.last)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    patients.sort_unstable_by(|&a, &b| {
        roster.entries[a as usize]
            .id
            .cmp(&roster.entries[b as usize].id)
    });
    patients.dedup();
    for i in patients {
        let entry = &roster.entries[i as usize];
        let site = roster.site(entry).unwrap_or_default();
        if request.site.as_deref().is_some_and(|s| s != site) {
            continue;
        }
        let arm = &trial.arms[entry.arm as usize];
        cohort.expand(i, &mut events);
        for e in &events {
            let (Some(product), Origin::Component(c)) = (e.product(arm), e.origin) else {
                continue;
            };
            if !in_range(e.date) {
                let before = request.first.is_some_and(|f| e.date < f);
                let count = match e.status {
                    Status::Due if before => Some(&mut overdue),
                    Status::Held if before => Some(&mut held_before),
                    _ => None,
                };
                if let Some(c) = count {
                    let (k, d) = c.get_or_insert((0, e.date));
                    *k += 1;
                    *d = (*d).min(e.date);
                }
                continue;
            }
            if !to_prepare(e.status) && e.status != Status::Held {
                off_list += 1;
                continue;
            }
            let Some(dose) = e.dose else { continue };
            let conc = concentration(product);
            let comp = &arm.components[c];
            let line = Line {
                patient_id: entry.id.to_string(),
                arm_id: arm.id.clone(),
                component_id: comp.id.clone(),
                component: comp.name.clone(),
                occurrence: e.occurrence,
                occurrences: e.occurrences,
                dose,
                volume_ml: conc.volume_ml(dose),
                cumulative: e.cumulative_dose,
                status: e.status,
                assumed: e.assumed,
                flags: e.flags,
                planned_date: e.planned,
            };
            if e.status == Status::Held {
                held.entry((e.date, site.to_string()))
                    .or_default()
                    .push((product, line));
                continue;
            }
            let block = days
                .entry((e.date, site.to_string()))
                .or_default()
                .entry(product)
                .or_insert_with(|| Block {
                    product,
                    concentration: conc,
                    lines: Vec::new(),
                    total: 0.0,
                    volume_ml: Some(0.0),
                    assumed: Assumed::default(),
                });
            block.total += dose;
            // In whole hundredths, so that the sum is exact.
            block.volume_ml = block
                .volume_ml
                .zip(line.volume_ml)
                .map(|(a, b)| ((a * 100.0).round() + (b * 100.0).round()) / 100.0);
            block.assumed |= Assumed::without_earlier(e.assumed);
            block.lines.push(line);
        }
    }
    Sheet {
        trial,
        request: request.clone(),
        overdue_before: overdue,
        held_before,
        days: {
            let mut out: BTreeMap<(NaiveDate, String), Day> = days
                .into_iter()
                .map(|((date, site), blocks)| {
                    let day = Day {
                        date,
                        site: site.clone(),
                        blocks: blocks.into_values().collect(),
                        held: Vec::new(),
                    };
                    ((date, site), day)
                })
                .collect();
            for ((date, site), lines) in held {
                out.entry((date, site.clone()))
                    .or_insert_with(|| Day {
                        date,
                        site,
                        blocks: Vec::new(),
                        held: Vec::new(),
                    })
                    .held = lines;
            }
            out.into_values().collect()
        },
        as_of: cohort.log.map(|l| l.as_of),
        off_list,
    }
}
