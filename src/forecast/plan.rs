//! Forecast plan files: TOML in, a checked [`ForecastPlan`] out.
//!
//! A plan says how a trial enrols (sites, their activation dates and rates), allocates
//! (arm ratios in permuted blocks), weighs, loses patients (deaths and dropouts) and makes
//! its product (lot size, weekly capacity). Like a scenario, every value carries its
//! provenance: `source` quoting the registry record, or `assumed` with the reason (a
//! published figure, say). A value is written `{ value = ..., source = "..." }`; a table
//! whose values belong together (`[allocation]`, `[weight_kg]`) carries one provenance for
//! all of them. Every problem is reported at once, with the file, line and field.
//! This module is the only one that knows the plan format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use toml::Spanned;

use crate::checker::{Checker, RawValue};
use crate::error::{InputError, Problem};
use crate::format::shown;
use crate::model::{Assumption, Kg, Provenance, Trial, Unit};

/// Most patients a plan may enrol (a replicate simulates each one).
pub const MAX_TARGET_PATIENTS: i64 = 100_000;
/// Longest horizon, in weeks (ten years).
pub const MAX_HORIZON_WEEKS: i64 = 520;
/// Most sites in a plan.
pub const MAX_SITES: usize = 200;
/// Largest permuted block.
pub const MAX_BLOCK: i64 = 1_000;
/// Highest enrolment rate of one site, in patients a month.
pub const MAX_RATE_PER_MONTH: f64 = 1_000.0;
/// Longest lead time of a lot, in weeks (two years).
pub const MAX_LEAD_TIME_WEEKS: i64 = 104;

/// Days in the average month the rates are counted in (365.25 / 12).
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// A checked plan.
#[derive(Debug, Clone)]
pub struct ForecastPlan {
    pub file: PathBuf,
    pub target_patients: u32,
    /// The first site's activation date: week 1 of the forecast is its ISO week.
    pub start: NaiveDate,
    pub horizon_weeks: u32,
    pub sites: Vec<SitePlan>,
    pub allocation: Allocation,
    pub weight: WeightModel,
    pub mortality: Mortality,
    /// Lot size and capacity per product, by index into the trial's products.
    pub products: BTreeMap<usize, ProductPlan>,
    /// Every assumed value, for the warnings and the report.
    pub assumptions: Vec<Assumption>,
    /// What each value is and where it comes from, in file order, for the report.
    pub values: Vec<(String, String, Provenance)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SitePlan {
    pub id: String,
    /// The site calendar's id (a `<id>.toml` in the calendars folder); `None`: every day open.
    pub calendar: Option<String>,
    /// The line of `calendar` in the plan file, for a message about it.
    pub calendar_line: Option<usize>,
    pub activation: NaiveDate,
    /// Patients per 30.4375 days.
    pub rate_per_month: f64,
    /// Shape of the gamma distribution of the rate between replicates (Poisson-gamma);
    /// `None`: the same rate in every replicate (plain Poisson).
    pub rate_shape: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// (arm index, ratio), arms in the trial's order; arms not named get none.
    pub ratio: Vec<(usize, u32)>,
    pub block_size: u32,
}

impl Allocation {
    /// One block before shuffling: each arm's index repeated its share of the block.
    pub fn block(&self) -> Vec<u16> {
        let sum: u32 = self.ratio.iter().map(|r| r.1).sum();
        let per = self.block_size / sum.max(1);
        let mut b = Vec::with_capacity(self.block_size as usize);
        for &(arm, r) in &self.ratio {
            for _ in 0..r * per {
                b.push(arm as u16);
            }
        }
        b
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum WeightModel {
    /// Normal, truncated to [min, max], each weight rounded to 0.1 kg (as a scale reads).
    Normal {
        mean: f64,
        sd: f64,
        min: f64,
        max: f64,
    },
    /// The weights of an existing roster, drawn with replacement.
    Roster { path: PathBuf, weights: Vec<Kg> },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mortality {
    /// Fraction dead by study day 28.
    pub day28: f64,
    /// Fraction dead by study day 90.
    pub day90: f64,
    /// Fraction leaving the study each month for reasons other than death.
    pub dropout_per_month: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProductPlan {
    pub lot_cells: f64,
    pub capacity_cells_per_week: f64,
    /// Weeks from starting a lot to its release, when the plan gives them: a lot needed in
    /// a week must start this many weeks before that week's Monday.
    pub lead_time_weeks: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawPlan {
    trial: Spanned<String>,
    target_patients: Spanned<RawValue<i64>>,
    start: Spanned<RawValue<toml::Value>>,
    horizon_weeks: Spanned<RawValue<i64>>,
    #[serde(default)]
    sites: Vec<Spanned<RawSite>>,
    allocation: Spanned<RawAllocation>,
    weight_kg: Spanned<RawWeight>,
    mortality: Spanned<RawMortality>,
    #[serde(default)]
    product: BTreeMap<String, Spanned<RawProduct>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawSite {
    id: Spanned<String>,
    calendar: Option<Spanned<String>>,
    activation: Spanned<RawValue<toml::Value>>,
    rate_per_month: Spanned<RawValue<f64>>,
    rate_shape: Option<Spanned<RawValue<f64>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawAllocation {
    ratio: Spanned<BTreeMap<String, Spanned<i64>>>,
    block_size: Spanned<i64>,
    source: Option<String>,
    assumed: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawWeight {
    normal: Option<Spanned<RawNormal>>,
    roster: Option<Spanned<String>>,
    source: Option<String>,
    assumed: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawNormal {
    mean: Spanned<f64>,
    sd: Spanned<f64>,
    min: Spanned<f64>,
    max: Spanned<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawMortality {
    day28: Spanned<RawValue<f64>>,
    day90: Spanned<RawValue<f64>>,
    dropout_per_month: Spanned<RawValue<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
struct RawProduct {
    lot_cells: Spanned<RawValue<f64>>,
    capacity_cells_per_week: Spanned<RawValue<f64>>,
    lead_time_weeks: Option<Spanned<RawValue<i64>>>,
}

/// The shape of a plan file, checked before serde reads it (see [`crate::checker::Shape`]):
/// the keys of each `Raw*` table above, what each holds, and an example of its value.
mod shape {
    use crate::checker::{ASSUMED, Key, Kind, SOURCE, Shape};

    const NUMBER: Kind = Kind::Number;
    const WHOLE: Kind = Kind::Whole;

    pub(super) const PLAN: Shape = Shape {
        what: "a forecast plan",
        keys: &[
            Key::must("trial", Kind::Text, "\"NCT01724398\""),
            Key::must("target_patients", Kind::Sourced(&WHOLE), "120"),
            Key::must("start", Kind::Sourced(&Kind::Date), "\"2027-01-04\""),
            Key::must("horizon_weeks", Kind::Sourced(&WHOLE), "52"),
            Key::may(
                "sites",
                Kind::List(&Kind::Table(&SITE), "[[sites]]"),
                "[[sites]]",
            ),
            Key::must("allocation", Kind::Table(&ALLOCATION), "[allocation]"),
            Key::must("weight_kg", Kind::Table(&WEIGHT), "[weight_kg]"),
            Key::must("mortality", Kind::Table(&MORTALITY), "[mortality]"),
            Key::may(
                "product",
                Kind::Named(&Kind::Table(&PRODUCT), "[product.uc_msc]"),
                "[product.uc_msc]",
            ),
        ],
    };

    const SITE: Shape = Shape {
        what: "a site",
        keys: &[
            Key::must("id", Kind::Text, "\"GZ-SYSU3\""),
            Key::may("calendar", Kind::Text, "\"GZ-SYSU3\""),
            Key::must("activation", Kind::Sourced(&Kind::Date), "\"2027-01-04\""),
            Key::must("rate_per_month", Kind::Sourced(&NUMBER), "5"),
            Key::may("rate_shape", Kind::Sourced(&NUMBER), "16"),
        ],
    };

    const ALLOCATION: Shape = Shape {
        what: "the [allocation] table",
        keys: &[
            Key::must(
                "ratio",
                Kind::Named(&WHOLE, "1"),
                "{ msc = 1, control = 1 }",
            ),
            Key::must("block_size", WHOLE, "4"),
            SOURCE,
            ASSUMED,
        ],
    };

    const WEIGHT: Shape = Shape {
        what: "the [weight_kg] table",
        keys: &[
            Key::may(
                "normal",
                Kind::Table(&NORMAL),
                "{ mean = 67, sd = 14, min = 40, max = 110 }",
            ),
            Key::may("roster", Kind::Text, "\"../rosters/NCT01724398.csv\""),
            SOURCE,
            ASSUMED,
        ],
    };

    const NORMAL: Shape = Shape {
        what: "a normal distribution of weights",
        keys: &[
            Key::must("mean", NUMBER, "67"),
            Key::must("sd", NUMBER, "14"),
            Key::must("min", NUMBER, "40"),
            Key::must("max", NUMBER, "110"),
        ],
    };

    const MORTALITY: Shape = Shape {
        what: "the [mortality] table",
        keys: &[
            Key::must("day28", Kind::Sourced(&NUMBER), "0.24"),
            Key::must("day90", Kind::Sourced(&NUMBER), "0.35"),
            Key::must("dropout_per_month", Kind::Sourced(&NUMBER), "0.01"),
        ],
    };

    const PRODUCT: Shape = Shape {
        what: "a product's table",
        keys: &[
            Key::must("lot_cells", Kind::Sourced(&NUMBER), "1e9"),
            Key::must("capacity_cells_per_week", Kind::Sourced(&NUMBER), "1e8"),
            Key::may("lead_time_weeks", Kind::Sourced(&WHOLE), "6"),
        ],
    };
}

/// Reads and checks a plan file for `trial`.
pub fn load(path: &Path, trial: &Trial) -> Result<ForecastPlan, InputError> {
    let max = crate::limits::MAX_PLAN_BYTES;
    let bytes =
        crate::limits::read_input(path, max, "a plan file", "the bundled ones are about 4 KB")
            .map_err(|msg| InputError::one(Problem::new(path, msg)))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        InputError::one(Problem::new(
            path,
            format!("cannot read plan file: it is not UTF-8 text ({e})"),
        ))
    })?;
    parse(path, &text, trial)
}

/// Parses and checks plan text; `path` names it in messages and anchors a relative
/// `weight_kg.roster` path.
pub fn parse(path: &Path, text: &str, trial: &Trial) -> Result<ForecastPlan, InputError> {
    // The shape first, every problem of it at once: serde stops at the first.
    let problems = crate::checker::shape_problems(path, text, &shape::PLAN, 1)?;
    InputError::check(problems)?;
    let raw: RawPlan = toml::from_str(text).map_err(|e| crate::checker::unread(path, text, &e))?;
    PlanChecker {
        c: Checker::new(
            path,
            text,
            "needs provenance: `source` quoting the registry record, or `assumed` with the reason (a published figure, say)",
        ),
        assumptions: Vec::new(),
        values: Vec::new(),
    }
    .run(raw, trial)
}

struct PlanChecker<'a> {
    c: Checker<'a>,
    assumptions: Vec<Assumption>,
    values: Vec<(String, String, Provenance)>,
}

impl PlanChecker<'_> {
    /// Records the provenance of `field` (shown as `shown`), or the problem that it has none.
    fn provenance(
        &mut self,
        source: &Option<String>,
        assumed: &Option<String>,
        line: Option<usize>,
        field: &str,
        shown: String,
    ) {
        let p = self.c.provenance(source, assumed, line, field);
        if let Some(reason) = &p.assumed {
            self.assumptions.push(Assumption {
                what: format!("forecast plan {field}"),
                reason: reason.clone(),
            });
        }
        self.values.push((field.to_string(), shown, p));
    }

    fn value<T: Clone>(&mut self, v: &Spanned<RawValue<T>>, field: &str, shown: String) -> T {
        let r = v.get_ref();
        self.provenance(&r.source, &r.assumed, self.c.line(v), field, shown);
        r.value.get_ref().clone()
    }

    fn whole(&mut self, v: &Spanned<RawValue<i64>>, field: &str, range: (i64, i64)) -> u32 {
        let n = self.c.whole(&v.get_ref().value, field, range);
        self.value(v, field, v.get_ref().value.get_ref().to_string());
        n
    }

    /// A number in `range`; `open_low` excludes the low end.
    fn number(
        &mut self,
        v: &Spanned<RawValue<f64>>,
        field: &str,
        range: (f64, f64),
        open_low: bool,
        unit: &str,
    ) -> f64 {
        let x = *v.get_ref().value.get_ref();
        let clamped = self.c.within(&v.get_ref().value, field, range, open_low);
        let text = if unit.is_empty() {
            shown(x)
        } else {
            format!("{} {unit}", shown(x))
        };
        self.value(v, field, text);
        clamped
    }

    /// The date `v` holds; `None` (the problem said) when it is not a date.
    fn date(&mut self, v: &Spanned<RawValue<toml::Value>>, field: &str) -> Option<NaiveDate> {
        let raw = v.get_ref().value.get_ref();
        let text = match raw {
            toml::Value::String(s) => s.clone(),
            toml::Value::Datetime(d) => d.to_string(),
            other => other.to_string(),
        };
        let parsed = crate::timing::parse_date(&text);
        let date = match parsed {
            Ok(d) => Some(d),
            Err(e) => {
                let line = self.c.line(&v.get_ref().value);
                let fix = "write it as YYYY-MM-DD, as in value = \"2027-01-04\"";
                self.c.err(line, field, format!("{e}: {fix}"));
                None
            }
        };
        let shown = date.map_or(text, |d| d.to_string());
        self.value(v, field, shown);
        date
    }

    fn run(mut self, raw: RawPlan, trial: &Trial) -> Result<ForecastPlan, InputError> {
        if raw.trial.get_ref() != &trial.id {
            self.c.err(
                self.c.line(&raw.trial),
                "trial",
                format!(
                    "this plan is for {}, but the scenario is {} ({})",
                    raw.trial.get_ref(),
                    trial.id,
                    trial.file.display()
                ),
            );
        }
        let target = self.whole(
            &raw.target_patients,
            "target_patients",
            (1, MAX_TARGET_PATIENTS),
        );
        let start_date = self.date(&raw.start, "start");
        let start = start_date.unwrap_or(NaiveDate::from_ymd_opt(2000, 1, 3).expect("a date"));
        let horizon_weeks = self.whole(&raw.horizon_weeks, "horizon_weeks", (1, MAX_HORIZON_WEEKS));
        // The horizon's weeks (from the start's Monday) end within the calendar the
        // outputs can show.
        let monday = start.week(chrono::Weekday::Mon).first_day();
        let end = crate::timing::shift_days(monday, i64::from(horizon_weeks) * 7 - 1);
        if monday.year() < 1 {
            let line = self.c.line(&raw.start.get_ref().value);
            self.c.err(
                line,
                "start",
                format!("{start}: the forecast's first week begins before 0001-01-01, the first date the outputs can show: a typo in the year?"),
            );
        } else if end.is_none() {
            let line = self.c.line(&raw.start.get_ref().value);
            self.c.err(
                line,
                "start",
                format!(
                    "{start} with a horizon of {horizon_weeks} weeks ends after 9999-12-31, the last date the outputs can show: a typo in the year?"
                ),
            );
        }
        let sites = self.sites(&raw.sites, start_date);
        let allocation = self.allocation(&raw.allocation, trial);
        let weight = self.weight(&raw.weight_kg, trial);
        let mortality = self.mortality(&raw.mortality);
        let products = self.products(&raw.product, trial);
        self.c.finish()?;
        Ok(ForecastPlan {
            file: self.c.path.to_path_buf(),
            target_patients: target,
            start,
            horizon_weeks,
            sites,
            allocation,
            weight,
            mortality,
            products,
            assumptions: self.assumptions,
            values: self.values,
        })
    }

    /// The sites; `start`, when the plan's start is a date, is the earliest activation.
    fn sites(&mut self, raw: &[Spanned<RawSite>], start: Option<NaiveDate>) -> Vec<SitePlan> {
        if raw.is_empty() {
            self.c.problems.push(
                Problem::new(self.c.path, "a plan needs at least one [[sites]] entry")
                    .field("sites"),
            );
        }
        if raw.len() > MAX_SITES {
            self.c.err(
                self.c.line(&raw[MAX_SITES]),
                "sites",
                format!("{} sites; a plan may have at most {MAX_SITES}", raw.len()),
            );
        }
        let mut out: Vec<SitePlan> = Vec::new();
        for (k, s) in raw.iter().enumerate() {
            let r = s.get_ref();
            let id = r.id.get_ref().clone();
            let f = |name: &str| format!("sites[{}].{name}", k + 1);
            if !crate::model::is_safe_id(&id) {
                self.c.err(
                    self.c.line(&r.id),
                    f("id"),
                    format!(
                        "'{id}' is not a valid id: use {}",
                        crate::model::SAFE_ID_RULE
                    ),
                );
            }
            if out.iter().any(|o| o.id == id) {
                self.c.err(
                    self.c.line(&r.id),
                    f("id"),
                    format!("site '{id}' is listed twice"),
                );
            }
            let calendar = r.calendar.as_ref().map(|c| {
                if !crate::model::is_safe_id(c.get_ref()) {
                    self.c.err(
                        self.c.line(c),
                        f("calendar"),
                        format!(
                            "'{}' is not a site calendar id: name the file (without .toml) in the calendars folder",
                            c.get_ref()
                        ),
                    );
                }
                c.get_ref().clone()
            });
            let activation = self.activation(&r.activation, start, &f("activation"));
            let rate = self.number(
                &r.rate_per_month,
                &f("rate_per_month"),
                (0.0, MAX_RATE_PER_MONTH),
                true,
                "patients/month",
            );
            let shape = r
                .rate_shape
                .as_ref()
                .map(|v| self.number(v, &f("rate_shape"), (0.0, 1e6), true, ""));
            out.push(SitePlan {
                id,
                calendar,
                calendar_line: r.calendar.as_ref().and_then(|c| self.c.line(c)),
                activation,
                rate_per_month: rate,
                rate_shape: shape,
            });
        }
        out
    }

    /// A site's activation date, not before the plan's `start` (when that is a date).
    fn activation(
        &mut self,
        v: &Spanned<RawValue<toml::Value>>,
        start: Option<NaiveDate>,
        field: &str,
    ) -> NaiveDate {
        let written = self.date(v, field);
        if let (Some(activation), Some(start)) = (written, start)
            && activation < start
        {
            let line = self.c.line(v);
            self.c.err(
                line,
                field,
                format!("{activation} is before the plan's start ({start}): the forecast counts from the start"),
            );
        }
        written.or(start).unwrap_or(NaiveDate::MIN)
    }

    fn allocation(&mut self, raw: &Spanned<RawAllocation>, trial: &Trial) -> Allocation {
        let r = raw.get_ref();
        let mut ratio = Vec::new();
        for (arm, n) in r.ratio.get_ref() {
            let Some(a) = trial.arms.iter().position(|x| &x.id == arm) else {
                self.c.err(
                    self.c.line(n),
                    "allocation.ratio",
                    format!(
                        "unknown arm '{arm}'; the arms of {} are: {}",
                        trial.id,
                        trial.arm_ids().join(", ")
                    ),
                );
                continue;
            };
            let v = *n.get_ref();
            if !(0..=MAX_BLOCK).contains(&v) {
                self.c.err(
                    self.c.line(n),
                    format!("allocation.ratio.{arm}"),
                    format!("{v} is out of range (0 to {MAX_BLOCK})"),
                );
                continue;
            }
            if v > 0 {
                ratio.push((a, v as u32));
            }
        }
        ratio.sort();
        let sum: u32 = ratio.iter().map(|r| r.1).sum();
        if sum == 0 {
            self.c.err(
                self.c.line(&r.ratio),
                "allocation.ratio",
                "no arm has a share: give at least one arm a ratio of 1 or more",
            );
        }
        let block = *r.block_size.get_ref();
        if !(1..=MAX_BLOCK).contains(&block) {
            self.c.err(
                self.c.line(&r.block_size),
                "allocation.block_size",
                format!("{block} is out of range (1 to {MAX_BLOCK})"),
            );
        } else if sum > 0 && !(block as u32).is_multiple_of(sum) {
            self.c.err(
                self.c.line(&r.block_size),
                "allocation.block_size",
                format!(
                    "a block of {block} cannot hold the ratio's {sum} shares in whole numbers: use a multiple of {sum}"
                ),
            );
        }
        let shown: Vec<String> = ratio
            .iter()
            .map(|(a, n)| format!("{} {n}", trial.arms[*a].id))
            .collect();
        self.provenance(
            &r.source,
            &r.assumed,
            self.c.line(raw),
            "allocation",
            format!(
                "{} in permuted blocks of {block} per site",
                shown.join(" : ")
            ),
        );
        Allocation {
            ratio,
            block_size: block.clamp(1, MAX_BLOCK) as u32,
        }
    }

    fn weight(&mut self, raw: &Spanned<RawWeight>, trial: &Trial) -> WeightModel {
        let r = raw.get_ref();
        let line = self.c.line(raw);
        match (&r.normal, &r.roster) {
            (Some(n), None) => self.normal(n.get_ref(), r, line),
            (None, Some(p)) => self.roster_weights(p, r, line, trial),
            _ => {
                self.c.err(
                    line,
                    "weight_kg",
                    "give exactly one of `normal = { mean, sd, min, max }` or `roster = \"FILE\"`",
                );
                WeightModel::Normal {
                    mean: 60.0,
                    sd: 10.0,
                    min: 40.0,
                    max: 80.0,
                }
            }
        }
    }

    /// A normal distribution of weights, truncated to usable body weights.
    fn normal(&mut self, n: &RawNormal, r: &RawWeight, line: Option<usize>) -> WeightModel {
        let (mean, sd, min, max) = (
            *n.mean.get_ref(),
            *n.sd.get_ref(),
            *n.min.get_ref(),
            *n.max.get_ref(),
        );
        let (lo, hi) = (
            crate::model::WEIGHT_HARD_MIN_KG,
            crate::model::WEIGHT_HARD_MAX_KG,
        );
        let within = |x: f64| x.is_finite() && (lo..=hi).contains(&x);
        for (v, name) in [(&n.min, "min"), (&n.max, "max"), (&n.mean, "mean")] {
            if !within(*v.get_ref()) {
                self.c.err(
                    self.c.line(v),
                    format!("weight_kg.normal.{name}"),
                    format!(
                        "{} kg is not a usable body weight ({lo}-{hi} kg)",
                        shown(*v.get_ref())
                    ),
                );
            }
        }
        if !(sd.is_finite() && sd > 0.0) {
            self.c.err(
                self.c.line(&n.sd),
                "weight_kg.normal.sd",
                format!("must be a positive number of kg, not {}", shown(sd)),
            );
        }
        if within(min) && within(max) && within(mean) && !(min < max && (min..=max).contains(&mean))
        {
            self.c.err(
                self.c.line(&n.min),
                "weight_kg.normal",
                format!(
                    "needs min < max with the mean between them (min {}, mean {}, max {})",
                    shown(min),
                    shown(mean),
                    shown(max)
                ),
            );
        }
        self.provenance(
            &r.source,
            &r.assumed,
            line,
            "weight_kg",
            format!(
                "normal, mean {} kg, SD {} kg, truncated to {}-{} kg, to 0.1 kg",
                shown(mean),
                shown(sd),
                shown(min),
                shown(max)
            ),
        );
        WeightModel::Normal { mean, sd, min, max }
    }

    /// Weights drawn from a roster's (a path relative to the plan's folder).
    fn roster_weights(
        &mut self,
        p: &Spanned<String>,
        r: &RawWeight,
        line: Option<usize>,
        trial: &Trial,
    ) -> WeightModel {
        let path = self
            .c
            .path
            .parent()
            .unwrap_or(Path::new("."))
            .join(p.get_ref());
        let weights = match crate::roster::read(&path, trial) {
            Ok(roster) => roster.entries.iter().map(|e| e.weight_kg).collect(),
            Err(e) => {
                let line = self.c.line(p);
                self.c.err(
                    line,
                    "weight_kg.roster",
                    format!(
                        "the roster {} (relative to the plan's folder) cannot be used",
                        path.display()
                    ),
                );
                self.c.problems.extend(e.problems);
                Vec::new()
            }
        };
        self.provenance(
            &r.source,
            &r.assumed,
            line,
            "weight_kg",
            format!(
                "drawn from the {} weights of {}",
                weights.len(),
                p.get_ref()
            ),
        );
        WeightModel::Roster { path, weights }
    }

    fn mortality(&mut self, raw: &Spanned<RawMortality>) -> Mortality {
        let r = raw.get_ref();
        let below_one = (0.0, 0.999);
        let day28 = self.number(&r.day28, "mortality.day28", below_one, false, "");
        let day90 = self.number(&r.day90, "mortality.day90", below_one, false, "");
        // Compared only when both are in range: a clamped value is not what was written.
        let written = |v: &Spanned<RawValue<f64>>| *v.get_ref().value.get_ref();
        let in_range = |x: f64| (below_one.0..=below_one.1).contains(&x);
        if in_range(written(&r.day28)) && in_range(written(&r.day90)) && day90 < day28 {
            let line = self.c.line(&r.day90);
            self.c.err(
                line,
                "mortality.day90",
                format!(
                    "{} dead by day 90 is fewer than the {} dead by day 28: the day-90 figure counts the day-28 deaths too",
                    shown(day90),
                    shown(day28)
                ),
            );
        }
        let dropout = self.number(
            &r.dropout_per_month,
            "mortality.dropout_per_month",
            below_one,
            false,
            "",
        );
        Mortality {
            day28,
            day90: day90.max(day28),
            dropout_per_month: dropout,
        }
    }

    fn products(
        &mut self,
        raw: &BTreeMap<String, Spanned<RawProduct>>,
        trial: &Trial,
    ) -> BTreeMap<usize, ProductPlan> {
        let mut out = BTreeMap::new();
        for (id, p) in raw {
            let Some(k) = trial.products.iter().position(|x| &x.id == id) else {
                let ids: Vec<&str> = trial.products.iter().map(|p| p.id.as_str()).collect();
                self.c.err(
                    self.c.line(p),
                    format!("product.{id}"),
                    format!(
                        "unknown product '{id}'; the products of {} are: {}",
                        trial.id,
                        ids.join(", ")
                    ),
                );
                continue;
            };
            if trial.products[k].unit != Unit::Cells {
                self.c.err(
                    self.c.line(p),
                    format!("product.{id}"),
                    format!(
                    "'{id}' is counted in mL, not cells: lots and capacity are for cell products (its demand is forecast without them)"
                ),
                );
                continue;
            }
            let r = p.get_ref();
            let lot = self.number(
                &r.lot_cells,
                &format!("product.{id}.lot_cells"),
                (0.0, 1e15),
                true,
                "cells",
            );
            let cap = self.number(
                &r.capacity_cells_per_week,
                &format!("product.{id}.capacity_cells_per_week"),
                (0.0, 1e16),
                true,
                "cells/week",
            );
            let lead = r.lead_time_weeks.as_ref().map(|v| {
                let weeks = self.whole(
                    v,
                    &format!("product.{id}.lead_time_weeks"),
                    (0, MAX_LEAD_TIME_WEEKS),
                );
                if let Some(shown) = self.values.last_mut() {
                    shown.1 = format!("{weeks} weeks");
                }
                weeks
            });
            out.insert(
                k,
                ProductPlan {
                    lot_cells: lot,
                    capacity_cells_per_week: cap,
                    lead_time_weeks: lead,
                },
            );
        }
        out
    }
}

/// The site calendars the plan's sites name, by calendar id, from `dir`. A missing file
/// is an error on the plan's line and field that names it.
pub fn calendars(dir: &Path, plan: &ForecastPlan) -> Result<crate::site::Sites, InputError> {
    // Patients start from the first activation to the end of the horizon.
    let first = plan
        .sites
        .iter()
        .map(|s| s.activation)
        .fold(plan.start, NaiveDate::min);
    let last = plan
        .start
        .checked_add_signed(chrono::Duration::weeks(i64::from(plan.horizon_weeks)))
        .unwrap_or(NaiveDate::MAX);
    crate::site::load_each(
        dir,
        plan.sites
            .iter()
            .enumerate()
            .filter_map(|(k, s)| s.calendar.as_deref().map(|id| (id, (k, s.calendar_line)))),
        Some(crate::site::Span::of_starts(first, last.max(first))),
        |id, (k, line), file| {
            Problem::new(
                &plan.file,
                format!(
                    "no site calendar '{id}': {} does not exist; {} (--calendars DIR names another folder)",
                    file.display(),
                    crate::site::known_calendars(dir)
                ),
            )
            .at(*line)
            .field(format!("sites[{}].calendar", k + 1))
        },
    )
}

#[cfg(test)]
mod tests {
    /// Serde never speaks to a user: a bundled plan with any value changed to any kind is
    /// refused by the shape check, or read.
    #[test]
    fn the_shape_check_and_the_reader_agree() {
        for file in crate::scenario::files_in(std::path::Path::new("scenarios/plans")).unwrap() {
            let text = std::fs::read_to_string(&file).unwrap();
            crate::checker::assert_agrees::<super::RawPlan>(&text, &super::shape::PLAN);
        }
    }

    /// README's limits table lists each of the plan's limits, and `--replicates`'.
    #[test]
    fn the_readme_lists_the_plans_limits() {
        let readme = include_str!("../../README.md");
        for (what, n) in [
            ("patients a plan enrols", super::MAX_TARGET_PATIENTS as f64),
            ("forecast horizon", super::MAX_HORIZON_WEEKS as f64),
            ("sites in a plan", super::MAX_SITES as f64),
            ("permuted block size", super::MAX_BLOCK as f64),
            ("enrolment rate of one site", super::MAX_RATE_PER_MONTH),
            ("a lot's lead time", super::MAX_LEAD_TIME_WEEKS as f64),
            ("replicates", crate::forecast::MAX_REPLICATES as f64),
        ] {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| {what}")))
                .unwrap_or_else(|| panic!("README.md has no limits row for {what}"));
            assert!(row.contains(&format!("| {n} ")), "{row}: should say {n}");
        }
    }
}
