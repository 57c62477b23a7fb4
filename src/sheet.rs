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
use crate::model::{Assumed, Kg, Product, Trial, Unit};
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
    /// The date it is to be given (where a site calendar put it).
    pub date: NaiveDate,
    /// The date the regimen gives, before a site calendar moved it.
    pub planned_date: NaiveDate,
    /// The weight the dose is computed at: the roster's, or the record's in force on its
    /// date (for a per-kg dose that follows recorded weights).
    pub weight_kg: Kg,
    /// The date of the record's weight row `weight_kg` comes from (`None`: the roster's).
    pub weight_date: Option<NaiveDate>,
    /// The dose per kg of body weight (cells/kg, or mL/kg), when the dose is weight-based.
    pub dose_per_kg: Option<f64>,
    /// The patient's roster and record warnings (a weight outside the usual range, one far
    /// from the weight before it), in words.
    pub warnings: Vec<String>,
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
    /// The closure, when the site's calendar is closed on this date ("National Day
    /// 国庆节", "Saturday"): the doses on it were left there.
    pub closure: Option<String>,
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

/// A date and site: the key of a day's page.
type DayKey = (NaiveDate, String);

/// A sheet as it is gathered, patient by patient.
struct Gather<'c, 't> {
    cohort: &'c Cohort<'t>,
    request: &'c Request,
    days: BTreeMap<DayKey, BTreeMap<usize, Block>>,
    held: BTreeMap<DayKey, Vec<(usize, Line)>>,
    closures: BTreeMap<DayKey, String>,
    off_list: usize,
    /// Overdue doses before the range are on nobody's list unless the sheet says so.
    overdue: Option<(usize, NaiveDate)>,
    /// And doses held for a decision before it: still waiting for one.
    held_before: Option<(usize, NaiveDate)>,
}

/// The sheet of `cohort` for `request`.
pub fn build<'t>(cohort: &Cohort<'t>, request: &Request) -> Sheet<'t> {
    let mut g = Gather {
        cohort,
        request,
        days: BTreeMap::new(),
        held: BTreeMap::new(),
        closures: BTreeMap::new(),
        off_list: 0,
        overdue: None,
        held_before: None,
    };
    let mut events: Vec<Event> = Vec::new();
    for i in patients(cohort, request) {
        g.patient(i, &mut events);
    }
    g.finish()
}

/// The patients with events in the range (with a record, from the start, for the overdue
/// ones), each once, in id order: a day's lines come in that order.
fn patients(cohort: &Cohort, request: &Request) -> Vec<u32> {
    let roster = cohort.roster;
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
    patients
}

/// A patient's roster and record warnings, in words.
fn patient_warnings(cohort: &Cohort, i: u32) -> Vec<String> {
    let entry = &cohort.roster.entries[i as usize];
    let mut out = Vec::new();
    if let Ok(Some(w)) = crate::schedule::check_weight(entry.weight_kg, &cohort.trial.weight) {
        out.push(format!("roster line {}: {w}", entry.line));
    }
    if let Some(log) = cohort.log {
        out.extend(crate::record::patient_warnings(
            cohort.trial,
            entry,
            &log.patient(i),
        ));
    }
    out
}

impl<'t> Gather<'_, 't> {
    fn in_range(&self, d: NaiveDate) -> bool {
        self.request.first.is_none_or(|f| d >= f) && self.request.last.is_none_or(|l| d <= l)
    }

    /// The concentration a product's volumes are drawn at.
    fn concentration(&self, p: usize) -> Concentration {
        Concentration::of(
            &self.cohort.trial.products[p],
            self.request.concentrations.get(p).copied().flatten(),
        )
    }

    /// Patient `i`'s doses in the range, onto their days.
    fn patient(&mut self, i: u32, events: &mut Vec<Event>) {
        let cohort = self.cohort;
        let entry = &cohort.roster.entries[i as usize];
        let site = cohort.roster.site(entry).unwrap_or_default();
        if self.request.site.as_deref().is_some_and(|s| s != site) {
            return;
        }
        let arm = &cohort.trial.arms[entry.arm as usize];
        let calendar = cohort.site_calendar(i);
        let warnings = patient_warnings(cohort, i);
        let weights: Vec<(NaiveDate, Kg, u32)> = cohort
            .log
            .map(|l| l.patient(i).weights().collect())
            .unwrap_or_default();
        cohort.expand(i, events);
        for e in events.iter() {
            let (Some(product), Origin::Component(c)) = (e.product(arm), e.origin) else {
                continue;
            };
            if !self.in_range(e.date) {
                self.count_before(e);
                continue;
            }
            if !to_prepare(e.status) && e.status != Status::Held {
                self.off_list += 1;
                continue;
            }
            let Some(dose) = e.dose else { continue };
            let comp = &arm.components[c];
            let line = Line {
                patient_id: entry.id.to_string(),
                arm_id: arm.id.clone(),
                component_id: comp.id.clone(),
                component: comp.name.clone(),
                occurrence: e.occurrence,
                occurrences: e.occurrences,
                dose,
                volume_ml: self.concentration(product).volume_ml(dose),
                cumulative: e.cumulative_dose,
                status: e.status,
                assumed: e.assumed,
                flags: e.flags,
                date: e.date,
                planned_date: e.planned,
                weight_kg: e.weight.unwrap_or(entry.weight_kg),
                // The weight in force on the dose's date: the latest recorded on or before it.
                weight_date: e
                    .weight
                    .and_then(|_| weights.iter().rev().find(|w| w.0 <= e.date).map(|w| w.0)),
                dose_per_kg: e.dose_per_kg,
                warnings: warnings.clone(),
            };
            let key = (e.date, site.to_string());
            if let Some(closure) = calendar.and_then(|c| c.day(e.date).closure()) {
                self.closures.insert(key.clone(), closure);
            }
            self.add(key, product, e, line);
        }
    }

    /// An event outside the range: counted when it is overdue or held before it.
    fn count_before(&mut self, e: &Event) {
        let before = self.request.first.is_some_and(|f| e.date < f);
        let count = match e.status {
            Status::Due if before => &mut self.overdue,
            Status::Held if before => &mut self.held_before,
            _ => return,
        };
        let (k, d) = count.get_or_insert((0, e.date));
        *k += 1;
        *d = (*d).min(e.date);
    }

    /// A dose to prepare onto its day's block, or a held one onto its day's list.
    fn add(&mut self, key: DayKey, product: usize, e: &Event, line: Line) {
        if e.status == Status::Held {
            self.held.entry(key).or_default().push((product, line));
            return;
        }
        let conc = self.concentration(product);
        let block = self
            .days
            .entry(key)
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
        block.total += line.dose;
        // In whole hundredths, so that the sum is exact.
        block.volume_ml = block
            .volume_ml
            .zip(line.volume_ml)
            .map(|(a, b)| ((a * 100.0).round() + (b * 100.0).round()) / 100.0);
        block.assumed |= Assumed::without_earlier(e.assumed);
        block.lines.push(line);
    }

    /// The days, in date and site order, each with its blocks, held doses and closure.
    fn finish(mut self) -> Sheet<'t> {
        let mut out: BTreeMap<DayKey, Day> = BTreeMap::new();
        let keys: Vec<DayKey> = self.days.keys().chain(self.held.keys()).cloned().collect();
        for key in keys {
            let blocks = self.days.remove(&key).map(|b| b.into_values().collect());
            let held = self.held.remove(&key);
            let day = out.entry(key.clone()).or_insert_with(|| Day {
                date: key.0,
                site: key.1.clone(),
                blocks: Vec::new(),
                held: Vec::new(),
                closure: self.closures.get(&key).cloned(),
            });
            if let Some(b) = blocks {
                day.blocks = b;
            }
            if let Some(h) = held {
                day.held = h;
            }
        }
        Sheet {
            trial: self.cohort.trial,
            request: self.request.clone(),
            overdue_before: self.overdue,
            held_before: self.held_before,
            days: out.into_values().collect(),
            as_of: self.cohort.log.map(|l| l.as_of),
            off_list: self.off_list,
        }
    }
}

/// Several trials' sheets for one site (`prep` with several trials, or none, and
/// `--site`): each trial's own sheet, with its days merged by date and site. A trial's
/// product is its own (another trial's `uc_msc` is another lot), so its blocks stay apart;
/// [`SiteDay::totals`] adds the day up across the trials, per unit.
#[derive(Debug, Clone)]
pub struct Combined<'t> {
    /// In the order the trials were given (or found).
    pub sheets: Vec<Sheet<'t>>,
}

/// One date and site across the trials: each trial's day, in the sheets' order.
#[derive(Debug, Clone)]
pub struct SiteDay<'s, 't> {
    pub date: NaiveDate,
    pub site: &'s str,
    pub parts: Vec<(&'s Sheet<'t>, &'s Day)>,
}

/// A day's sum across the trials, in one unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitTotal {
    pub unit: Unit,
    pub doses: usize,
    pub total: f64,
    /// The volumes drawn, each to the hundredth of a mL (`None`: one has no
    /// concentration known).
    pub volume_ml: Option<f64>,
}

impl<'t> Combined<'t> {
    /// The days of every sheet, merged by date and site, in date then site order.
    pub fn days(&self) -> Vec<SiteDay<'_, 't>> {
        let mut by: BTreeMap<(NaiveDate, &str), Vec<(&Sheet<'t>, &Day)>> = BTreeMap::new();
        for s in &self.sheets {
            for d in &s.days {
                by.entry((d.date, d.site.as_str()))
                    .or_default()
                    .push((s, d));
            }
        }
        by.into_iter()
            .map(|((date, site), parts)| SiteDay { date, site, parts })
            .collect()
    }

    /// How many doses the sheets list to prepare.
    pub fn doses(&self) -> usize {
        self.sheets.iter().map(Sheet::doses).sum()
    }

    /// How many doses are held on the sheets' dates.
    pub fn held(&self) -> usize {
        self.sheets.iter().map(Sheet::held).sum()
    }
}

impl SiteDay<'_, '_> {
    /// The closure of the site on this date, when it is closed.
    pub fn closure(&self) -> Option<&str> {
        self.parts.iter().find_map(|(_, d)| d.closure.as_deref())
    }

    /// Whether any trial has a dose to prepare on it.
    pub fn has_doses(&self) -> bool {
        self.parts.iter().any(|(_, d)| !d.blocks.is_empty())
    }

    /// The day's doses across the trials, per unit (cells first, then mL); units with no
    /// dose are left out.
    pub fn totals(&self) -> Vec<UnitTotal> {
        [Unit::Cells, Unit::Ml]
            .into_iter()
            .filter_map(|unit| {
                let blocks: Vec<&Block> = self
                    .parts
                    .iter()
                    .flat_map(|(s, d)| d.blocks.iter().map(move |b| (s, b)))
                    .filter(|(s, b)| s.trial.products[b.product].unit == unit)
                    .map(|(_, b)| b)
                    .collect();
                (!blocks.is_empty()).then(|| UnitTotal {
                    unit,
                    doses: blocks.iter().map(|b| b.lines.len()).sum(),
                    total: blocks.iter().map(|b| b.total).sum(),
                    // In whole hundredths, so that the sum is exact.
                    volume_ml: blocks.iter().try_fold(0.0, |a, b| {
                        b.volume_ml
                            .map(|v| ((a * 100.0_f64).round() + (v * 100.0).round()) / 100.0)
                    }),
                })
            })
            .collect()
    }
}
