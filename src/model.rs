//! The validated trial model: plain data, no I/O and no parsing.
//!
//! A [`Trial`] is what a scenario file becomes once `scenario.rs` has checked it: every
//! reference resolved to an index, every number in range, every value carrying the
//! [`Provenance`] that says which registry sentence it came from (or why it was assumed).
//! The schedule core (`schedule.rs`) reads only these types.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

pub use crate::layout::{SAFE_ID_RULE, is_safe_id};
pub use crate::moves::{Anchor, OnClosed, Policy};

/// Below this weight (kg) a patient weight is an error, not a warning ([`Kg::HARD_MIN`]).
pub const WEIGHT_HARD_MIN_KG: f64 = 3.0;
/// Above this weight (kg) a patient weight is an error, not a warning ([`Kg::HARD_MAX`]).
pub const WEIGHT_HARD_MAX_KG: f64 = 350.0;

/// A body weight in kg, kept exactly as entered (`50.00000125` stays that, `62.50` keeps
/// its zero), so that per-kg doses are computed in exact decimal arithmetic and every
/// output echoes the weight the user typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Kg(Decimal);

impl Kg {
    /// Checks a body weight against the hard limits (`Err`: the weight, not usable) and
    /// the scenario's usual range (`Ok(Some(..))`: a warning to check it).
    pub fn check(self, usual: &WeightRange) -> Result<Option<String>, Kg> {
        let (min, max) = usual.usual_kg;
        // A weight in a usual range that lies within the hard limits (every validated
        // scenario's), the common case, needs no second comparison.
        let inside_hard = Kg::HARD_MIN <= min && max <= Kg::HARD_MAX;
        if inside_hard && (min..=max).contains(&self) {
            return Ok(None);
        }
        if !(Kg::HARD_MIN..=Kg::HARD_MAX).contains(&self) {
            return Err(self);
        }
        if !(min..=max).contains(&self) {
            return Ok(Some(format!(
                "weight {self} kg is outside this scenario's usual range of {}-{} kg: check it",
                usual.usual_min_kg, usual.usual_max_kg
            )));
        }
        Ok(None)
    }

    /// [`WEIGHT_HARD_MIN_KG`] exactly.
    pub const HARD_MIN: Kg = Kg(Decimal::from_parts(3, 0, 0, false, 0));
    /// [`WEIGHT_HARD_MAX_KG`] exactly.
    pub const HARD_MAX: Kg = Kg(Decimal::from_parts(350, 0, 0, false, 0));

    /// The exact value.
    pub fn decimal(self) -> Decimal {
        self.0
    }

    /// The nearest f64, for charts and range checks.
    pub fn f64(self) -> f64 {
        self.0.to_f64().unwrap_or(f64::NAN)
    }

    /// The shortest decimal that reads back as `w` (62.5 for 62.5f64): for weights that
    /// come from code (a chart's reference weight) rather than from a user.
    pub fn from_f64(w: f64) -> Kg {
        Kg(exact_decimal(w).unwrap_or_default())
    }
}

/// The shortest decimal text of a finite f64 (1200000 for 1.2e6), as a `Decimal`: the
/// value a scenario author wrote, without the binary fraction f64 stores. `None` for
/// values beyond what a `Decimal` holds.
pub fn exact_decimal(x: f64) -> Option<Decimal> {
    if !x.is_finite() {
        return None;
    }
    let text = ryu::Buffer::new().format_finite(x).to_string();
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

impl FromStr for Kg {
    type Err = String;

    /// Plain decimal digits (`62.5`, `70`, `50.00000125`); scientific notation and
    /// anything a `Decimal` cannot hold exactly (more than 28 significant digits) is refused.
    fn from_str(text: &str) -> Result<Kg, String> {
        let t = text.trim();
        let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
        let shape = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && digits.bytes().filter(|&b| b == b'.').count() <= 1
            && digits.bytes().any(|b| b.is_ascii_digit());
        if !shape {
            return Err(format!(
                "'{text}' is not a weight in kg (write it like 62.5)"
            ));
        }
        let significant = digits
            .bytes()
            .filter(u8::is_ascii_digit)
            .skip_while(|&b| b == b'0')
            .count();
        if significant > 28 {
            return Err(format!(
                "'{text}' has more than 28 significant digits, more than dosesim computes exactly"
            ));
        }
        // The usual weight (62.5) in integer arithmetic: every roster row is parsed.
        if significant <= 18 && !t.starts_with(['+', '-']) {
            let (mut mantissa, mut scale, mut point) = (0u64, 0u32, false);
            for b in t.bytes() {
                if b == b'.' {
                    point = true;
                } else {
                    mantissa = mantissa * 10 + u64::from(b - b'0');
                    scale += u32::from(point);
                }
            }
            if scale <= 28 {
                return Ok(Kg(Decimal::from_i128_with_scale(
                    i128::from(mantissa),
                    scale,
                )));
            }
        }
        Decimal::from_str(t)
            .map(Kg)
            .map_err(|_| format!("'{text}' is not a weight in kg"))
    }
}

impl fmt::Display for Kg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl serde::Serialize for Kg {
    /// A JSON number with exactly the digits entered (not f64's nearest value).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.0.to_string()) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_f64(self.f64()),
        }
    }
}

bitflags::bitflags! {
    /// Which values behind an output are assumed rather than stated by the registry record:
    /// a small set, computed once per arm item when a plan is compiled, carried on every
    /// event and printed by name ("dose; timing", [`Assumed::names`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
    pub struct Assumed: u16 {
        const DOSE = 1;
        const TIMING = 1 << 1;
        const ROUTE = 1 << 2;
        const DURATION = 1 << 3;
        const PRODUCT = 1 << 4;
        const DAY = 1 << 5;
        const WINDOW = 1 << 6;
        const BACKGROUND = 1 << 7;
        /// A running total that includes an assumed dose of an earlier row.
        const EARLIER_DOSE = 1 << 8;
        /// The date was chosen by an assumed closed-day rule (a move, or a move refused).
        const CLOSED_DAY_RULE = 1 << 9;
        /// The date was chosen after the administration record by an assumed rule (an
        /// anchor keeping the interval from a dose given late, or a minimum gap to it).
        const REPROJECTION_RULE = 1 << 10;
    }
}

impl Assumed {
    pub const NONE: Assumed = Assumed::empty();

    /// A flag's name in the outputs: its name in lowercase words ("closed-day rule"),
    /// where that differs from the lowercase of the flag.
    fn word(name: &str) -> Option<&'static str> {
        match name {
            "EARLIER_DOSE" => Some("earlier dose in total"),
            "CLOSED_DAY_RULE" => Some("closed-day rule"),
            "REPROJECTION_RULE" => Some("re-projection rule"),
            _ => None,
        }
    }

    /// Every flag with its name in the outputs, in the order written.
    fn all_names() -> &'static [(Assumed, String)] {
        static NAMES: std::sync::OnceLock<Vec<(Assumed, String)>> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| {
            Assumed::all()
                .iter_names()
                .map(|(name, f)| {
                    let word =
                        Self::word(name).map_or_else(|| name.to_ascii_lowercase(), String::from);
                    (f, word)
                })
                .collect()
        })
    }

    /// `flag` when `assumed` is true, else nothing.
    pub fn when(assumed: bool, flag: Assumed) -> Assumed {
        if assumed { flag } else { Assumed::NONE }
    }

    /// `a` less the mark of an earlier assumed dose in a running total.
    pub fn without_earlier(a: Assumed) -> Assumed {
        a.difference(Assumed::EARLIER_DOSE)
    }

    /// The names joined by "; " appended to `out`, without the formatting machinery (the
    /// pharmacy stream writes one per row).
    pub fn write_to(self, out: &mut Vec<u8>) {
        if self.is_empty() {
            return;
        }
        // Every set there can be, named once (11 flags: 2,048 texts).
        static TEXTS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        let texts = TEXTS.get_or_init(|| {
            (0..=Assumed::all().bits())
                .map(|bits| Assumed::from_bits_retain(bits).to_string())
                .collect()
        });
        match texts.get(usize::from(self.bits())) {
            Some(t) => out.extend_from_slice(t.as_bytes()),
            None => out.extend_from_slice(self.to_string().as_bytes()),
        }
    }

    /// The names of the flags set, in the order written.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::all_names()
            .iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, n)| n.as_str())
    }
}

impl fmt::Display for Assumed {
    /// The names joined by "; " ("dose; timing"), or nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.names().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(n)?;
        }
        Ok(())
    }
}

impl serde::Serialize for Assumed {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Where a regimen value comes from: a quote from the registry record, an assumption made
/// because the record does not state it, or both (a quote that the assumption interprets).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Provenance {
    /// The registry sentence the value comes from, quoted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Why the value was assumed; present when the record does not state it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assumed: Option<String>,
}

impl Provenance {
    pub fn is_assumed(&self) -> bool {
        self.assumed.is_some()
    }

    /// From a file's `source` and `assumed` texts, white space folded and empty texts
    /// dropped; `None` when neither says anything (a problem for the file's reader).
    pub fn from_texts(source: &Option<String>, assumed: &Option<String>) -> Option<Provenance> {
        let clean = |s: &Option<String>| {
            s.as_ref()
                .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|t| !t.is_empty())
        };
        let p = Provenance {
            source: clean(source),
            assumed: clean(assumed),
        };
        (p.source.is_some() || p.assumed.is_some()).then_some(p)
    }
}

/// One registered trial, with all its arms.
#[derive(Debug, Clone)]
pub struct Trial {
    pub id: String,
    pub title: String,
    pub condition: String,
    /// The registry record this scenario was encoded from (a file in shared/seeds/).
    pub seed: String,
    pub registry_url: Option<String>,
    /// How long patients are followed after study day 1, when the record says.
    pub follow_up: Option<FollowUp>,
    /// The scenario file this trial was read from.
    pub file: PathBuf,
    pub weight: WeightRange,
    pub products: Vec<Product>,
    pub arms: Vec<Arm>,
}

impl Trial {
    pub fn arm(&self, id: &str) -> Option<&Arm> {
        self.arms.iter().find(|a| a.id == id)
    }

    pub fn arm_ids(&self) -> Vec<&str> {
        self.arms.iter().map(|a| a.id.as_str()).collect()
    }

    /// The assumed values calendars of the given arms use, each once (two arms sharing a
    /// visit or a product name it once): the follow-up, then each arm's.
    pub fn assumptions_of<'a>(
        &'a self,
        arms: impl IntoIterator<Item = &'a Arm>,
    ) -> Vec<Assumption> {
        // Every calendar shows the follow-up, whichever its arm.
        let mut out: Vec<Assumption> = self.follow_up_assumption().into_iter().collect();
        for arm in arms {
            for a in arm.assumptions(self) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }

    fn follow_up_assumption(&self) -> Option<Assumption> {
        let f = self.follow_up.as_ref()?;
        Some(Assumption {
            what: "follow-up length".into(),
            reason: f.provenance.assumed.clone()?,
        })
    }

    /// Every assumed value of the trial once: the weight range, the follow-up, then each
    /// arm's.
    pub fn assumptions(&self) -> Vec<Assumption> {
        let mut out: Vec<Assumption> = Vec::new();
        if let Some(reason) = &self.weight.provenance.assumed {
            out.push(Assumption {
                what: "usual weight range".into(),
                reason: reason.clone(),
            });
        }
        out.extend(self.assumptions_of(&self.arms));
        out
    }
}

/// How long the record says patients are followed, counted in calendar months from
/// study day 1 (60 for "the follow-up time is 5 years").
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    pub months: u32,
    pub provenance: Provenance,
}

impl FollowUp {
    /// "5 years" or "18 months".
    pub fn words(&self) -> String {
        if self.months.is_multiple_of(12) {
            let y = self.months / 12;
            format!("{y} year{}", if y == 1 { "" } else { "s" })
        } else {
            format!("{} months", self.months)
        }
    }

    /// The last day of follow-up for a patient starting on `start`: `months` calendar
    /// months after study day 1.
    pub fn end(&self, start: chrono::NaiveDate) -> Option<chrono::NaiveDate> {
        crate::timing::add_months(start, self.months)
    }
}

/// The weights a scenario expects. Outside `usual_*` the tool warns; the hard limits
/// [`WEIGHT_HARD_MIN_KG`] and [`WEIGHT_HARD_MAX_KG`] are errors.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightRange {
    pub usual_min_kg: f64,
    pub usual_max_kg: f64,
    /// The same range as exact decimals, for checking every roster row quickly.
    pub usual_kg: (Kg, Kg),
    pub provenance: Provenance,
}

/// The unit a product is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
pub enum Unit {
    #[strum(serialize = "cells")]
    Cells,
    #[strum(serialize = "mL")]
    Ml,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl serde::Serialize for Unit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub unit: Unit,
    /// Cells per mL of the infused suspension, so that a volume can be computed.
    pub concentration_cells_per_ml: Option<f64>,
    pub provenance: Provenance,
}

#[derive(Debug, Clone)]
pub struct Arm {
    pub id: String,
    pub name: String,
    pub provenance: Provenance,
    /// Rules for the whole arm in the record's words (a stopping rule, say): shown by
    /// `show`, under the calendar table and in the report, not repeated on every row.
    pub notes: Vec<String>,
    /// Each note's short code (`stop_on_sae`; `note1` by default): pharmacy.csv's
    /// `note_codes` column names the notes by these, and the report spells them out.
    pub note_codes: Vec<String>,
    pub components: Vec<Component>,
    pub visits: Vec<Visit>,
    pub background: Vec<Background>,
}

/// What a dosing component does to the patient; it becomes the CSV `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ComponentKind {
    CellInfusion,
    PlasmaExchange,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One dosed element of an arm: a product given on a timing.
#[derive(Debug, Clone)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub kind: ComponentKind,
    /// Index into [`Trial::products`].
    pub product: usize,
    pub dose: Dose,
    pub timing: Timing,
    pub route: Option<Sourced<String>>,
    pub duration_min: Option<Sourced<u32>>,
    /// Free text shown in the calendar's note column (an ambiguity, say).
    pub note: Option<String>,
}

/// A value with the registry text it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Sourced<T> {
    pub value: T,
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dose {
    pub amount: DoseAmount,
    /// Round each dose to the nearest multiple of this (in the product's unit).
    pub round_to: Option<f64>,
    /// A dose above this (in the product's unit) is an error, never capped.
    pub max_per_dose: Option<f64>,
    /// How far (per cent) a dose given may be from the planned one before the record
    /// flags it (`dose_low`, `dose_high`); dosesim's default, marked assumed, when the
    /// scenario states none.
    pub tolerance_pct: Sourced<f64>,
    /// Which weight a per-kg dose is computed at once the record has a newer one: a
    /// protocol's choice; dosesim's default (current), marked assumed, when the scenario
    /// states none.
    pub weight_basis: Sourced<WeightBasis>,
    pub provenance: Provenance,
}

/// The weight a per-kg dose is computed at.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum WeightBasis {
    /// The weight in force on the dose's date: a weight recorded in the administration
    /// record re-doses what is not given yet.
    #[default]
    Current,
    /// The weight the patient was enrolled at (the roster's): recorded weights change no
    /// dose.
    Screening,
}

impl WeightBasis {
    pub fn parse(s: &str) -> Option<WeightBasis> {
        s.parse().ok()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DoseAmount {
    /// Product units per kg of body weight (cells/kg).
    PerKg(f64),
    /// A fixed amount in the product's unit (cells, or mL).
    Fixed(f64),
    /// The component is given but not dosed (a procedure).
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub rule: TimingRule,
    /// Occurrences (1-based) given on the same day right after another component.
    pub after: Option<After>,
    pub provenance: Provenance,
    /// Where an occurrence planned on a day its site is closed may move.
    pub closed_days: ClosedDayRules,
}

/// A component's rules for a day its site is closed, each value with its provenance (all
/// optional: with none, an occurrence stays on its planned date, flagged).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClosedDayRules {
    pub on_closed: Option<Sourced<OnClosed>>,
    /// How far from its planned date an occurrence may move.
    pub window: Option<Window>,
    pub min_gap_days: Option<Sourced<u32>>,
    pub anchor: Option<Sourced<Anchor>>,
}

impl ClosedDayRules {
    /// The rules as the mover applies them.
    pub fn policy(&self) -> Policy {
        Policy {
            on_closed: self
                .on_closed
                .as_ref()
                .map_or_else(OnClosed::default, |s| s.value),
            window: self.window.as_ref().map(|w| (w.days_before, w.days_after)),
            min_gap_days: self.min_gap_days.as_ref().map(|s| s.value),
            anchor: self
                .anchor
                .as_ref()
                .map_or_else(Anchor::default, |s| s.value),
        }
    }

    /// Whether any rule given is assumed rather than stated by the record.
    pub fn is_assumed(&self) -> bool {
        self.on_closed
            .as_ref()
            .is_some_and(|s| s.provenance.is_assumed())
            || self
                .window
                .as_ref()
                .is_some_and(|w| w.provenance.is_assumed())
            || self
                .min_gap_days
                .as_ref()
                .is_some_and(|s| s.provenance.is_assumed())
            || self
                .anchor
                .as_ref()
                .is_some_and(|s| s.provenance.is_assumed())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TimingRule {
    /// An explicit, strictly increasing list of study days.
    Days(Vec<u32>),
    /// `count` occurrences from `start_day`, `interval` apart.
    Every {
        start_day: u32,
        interval: Interval,
        count: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Days(u32),
    Weeks(u32),
    /// Calendar months, counted from the first occurrence's date and clamped to month end.
    Months(u32),
}

impl TimingRule {
    pub fn count(&self) -> u32 {
        match self {
            TimingRule::Days(d) => d.len() as u32,
            TimingRule::Every { count, .. } => *count,
        }
    }

    /// The study days, when they do not depend on the start date (no month intervals).
    pub fn fixed_days(&self) -> Option<Vec<u32>> {
        match self {
            TimingRule::Days(d) => Some(d.clone()),
            TimingRule::Every {
                start_day,
                interval,
                count,
            } => {
                let step = match interval {
                    Interval::Days(n) => *n,
                    Interval::Weeks(n) => n * 7,
                    Interval::Months(_) => return None,
                };
                Some((0..*count).map(|k| start_day + k * step).collect())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct After {
    /// Index into the arm's components.
    pub component: usize,
    /// Which occurrences follow it (1-based); `None` means all.
    pub occurrences: Option<Vec<u32>>,
}

impl After {
    pub fn applies_to(&self, occurrence: u32) -> bool {
        self.occurrences
            .as_ref()
            .is_none_or(|o| o.contains(&occurrence))
    }
}

/// A follow-up visit on a study day, with an optional window.
#[derive(Debug, Clone, PartialEq)]
pub struct Visit {
    pub id: String,
    pub name: String,
    pub day: u32,
    pub window: Option<Window>,
    pub provenance: Provenance,
    /// Where the visit moves when planned on a day its site is closed (within `window`).
    pub on_closed: Option<Sourced<OnClosed>>,
}

impl Visit {
    /// The visit's rules as the mover applies them.
    pub fn policy(&self) -> Policy {
        Policy {
            window: self.window.as_ref().map(|w| (w.days_before, w.days_after)),
            ..ClosedDayRules {
                on_closed: self.on_closed.clone(),
                ..ClosedDayRules::default()
            }
            .policy()
        }
    }

    /// Whether its closed-day rule (or the window it moves within) is assumed.
    pub fn policy_assumed(&self) -> bool {
        self.on_closed.as_ref().is_some_and(|s| {
            s.provenance.is_assumed()
                || self
                    .window
                    .as_ref()
                    .is_some_and(|w| w.provenance.is_assumed())
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub days_before: u32,
    pub days_after: u32,
    pub provenance: Provenance,
}

/// Standard treatment given alongside the regimen: shown on the calendar, never dosed.
#[derive(Debug, Clone, PartialEq)]
pub struct Background {
    pub id: String,
    pub name: String,
    pub detail: Option<String>,
    pub start_day: u32,
    /// The stop condition, as the record states it.
    pub until: Option<String>,
    pub provenance: Provenance,
}

/// An assumed value an arm uses: what it is and why it was assumed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Assumption {
    pub what: String,
    pub reason: String,
}

impl Arm {
    /// Every assumed value this arm uses, in file order.
    pub fn assumptions(&self, trial: &Trial) -> Vec<Assumption> {
        let mut out = Vec::new();
        let mut push = |what: String, p: &Provenance| {
            if let Some(reason) = &p.assumed {
                out.push(Assumption {
                    what,
                    reason: reason.clone(),
                });
            }
        };
        push(format!("arm {}", self.id), &self.provenance);
        for c in &self.components {
            let product = &trial.products[c.product];
            push(format!("product {}", product.id), &product.provenance);
            push(format!("{} dose", c.id), &c.dose.provenance);
            push(format!("{} timing", c.id), &c.timing.provenance);
            if let Some(r) = &c.route {
                push(format!("{} route", c.id), &r.provenance);
            }
            if let Some(d) = &c.duration_min {
                push(format!("{} duration", c.id), &d.provenance);
            }
        }
        for v in &self.visits {
            push(format!("visit {} day", v.id), &v.provenance);
            if let Some(w) = &v.window {
                push(format!("visit {} window", v.id), &w.provenance);
            }
        }
        for b in &self.background {
            push(format!("background {}", b.id), &b.provenance);
        }
        // Two components of one product would name its assumption twice.
        let mut seen = Vec::new();
        out.retain(|a| {
            let new = !seen.contains(a);
            seen.push(a.clone());
            new
        });
        out
    }
}

impl Arm {
    /// The assumed closed-day rules of this arm (on a closed day, window, minimum gap,
    /// anchor), in file order: used only when a patient is on a site calendar.
    pub fn closed_day_assumptions(&self) -> Vec<Assumption> {
        let mut out = Vec::new();
        let mut push = |what: String, p: &Provenance| {
            if let Some(reason) = &p.assumed {
                out.push(Assumption {
                    what,
                    reason: reason.clone(),
                });
            }
        };
        for c in &self.components {
            let rules = &c.timing.closed_days;
            if let Some(o) = &rules.on_closed {
                push(format!("{} on a closed day", c.id), &o.provenance);
            }
            if let Some(w) = &rules.window {
                push(format!("{} window for a move", c.id), &w.provenance);
            }
            if let Some(g) = &rules.min_gap_days {
                push(format!("{} minimum gap", c.id), &g.provenance);
            }
            if let Some(a) = &rules.anchor {
                push(format!("{} anchor", c.id), &a.provenance);
            }
        }
        for v in &self.visits {
            if let Some(o) = &v.on_closed {
                push(format!("visit {} on a closed day", v.id), &o.provenance);
            }
        }
        out
    }
}

impl Arm {
    /// The assumed values the administration record uses: each dosed component's
    /// tolerance for a dose given and, for a per-kg dose, the weight it follows (warned
    /// only when a record is applied; the weight basis only when it records a weight).
    pub fn record_assumptions(&self, weights_recorded: bool) -> Vec<Assumption> {
        let mut out = Vec::new();
        for c in self
            .components
            .iter()
            .filter(|c| c.dose.amount != DoseAmount::None)
        {
            if let Some(r) = &c.dose.tolerance_pct.provenance.assumed {
                out.push(Assumption {
                    what: format!("{} dose tolerance", c.id),
                    reason: r.clone(),
                });
            }
            if let (DoseAmount::PerKg(_), Some(r), true) = (
                c.dose.amount,
                &c.dose.weight_basis.provenance.assumed,
                weights_recorded,
            ) {
                out.push(Assumption {
                    what: format!("{} weight basis", c.id),
                    reason: r.clone(),
                });
            }
        }
        out
    }
}

impl Trial {
    /// Every assumed value of the record's checks for the given arms, each once
    /// (`weights_recorded`: whether the record has a weight row).
    pub fn record_assumptions_of<'a>(
        &'a self,
        arms: impl IntoIterator<Item = &'a Arm>,
        weights_recorded: bool,
    ) -> Vec<Assumption> {
        let mut out: Vec<Assumption> = Vec::new();
        for arm in arms {
            for a in arm.record_assumptions(weights_recorded) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }

    /// Every assumed closed-day rule of the given arms, each once.
    pub fn closed_day_assumptions_of<'a>(
        &'a self,
        arms: impl IntoIterator<Item = &'a Arm>,
    ) -> Vec<Assumption> {
        let mut out: Vec<Assumption> = Vec::new();
        for arm in arms {
            for a in arm.closed_day_assumptions() {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_device_names_are_not_ids() {
        for bad in ["CON", "nul", "Aux.csv", "COM1", "lpt9", "PRN.x"] {
            assert!(!is_safe_id(bad), "{bad}");
        }
        for ok in ["CONSENT", "COM10", "P-NUL", "LPT", "con1x"] {
            assert!(is_safe_id(ok), "{ok}");
        }
    }

    #[test]
    fn weights_keep_their_digits() {
        let w: Kg = "62.50".parse().unwrap();
        assert_eq!(w.to_string(), "62.50");
        assert!("6.25e1".parse::<Kg>().is_err());
        assert!("".parse::<Kg>().is_err());
        assert!("1.2.3".parse::<Kg>().is_err());
        assert!("12345678901234567890123456789".parse::<Kg>().is_err());
        // The fast integer path and the decimal library agree, digits and scale alike.
        for t in [
            "62.5",
            "070",
            "0.001",
            "62.",
            "350.000",
            "63.123456789123456789",
            "1.50",
        ] {
            let fast: Kg = t.parse().unwrap();
            assert_eq!(fast.decimal(), Decimal::from_str(t).unwrap(), "{t}");
            assert_eq!(
                fast.to_string(),
                Decimal::from_str(t).unwrap().to_string(),
                "{t}"
            );
        }
    }
}
