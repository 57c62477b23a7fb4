//! The validated trial model: plain data, no I/O and no parsing.
//!
//! A [`Trial`] is what a scenario file becomes once `scenario.rs` has checked it: every
//! reference resolved to an index, every number in range, every value carrying the
//! [`Provenance`] that says which registry sentence it came from (or why it was assumed).
//! The schedule core (`schedule.rs`) reads only these types.

use std::path::PathBuf;

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

    /// Every assumed value of the trial once: the weight range, then each arm's.
    pub fn assumptions(&self) -> Vec<Assumption> {
        let mut out: Vec<Assumption> = Vec::new();
        if let Some(reason) = &self.weight.provenance.assumed {
            out.push(Assumption {
                what: "usual weight range".into(),
                reason: reason.clone(),
            });
        }
        for arm in &self.arms {
            for a in arm.assumptions(self) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }
}

/// The weights a scenario expects. Outside `usual_*` the tool warns; the hard limits in
/// [`crate::schedule::WEIGHT_HARD_MIN_KG`] and `..._MAX_KG` are errors.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightRange {
    pub usual_min_kg: f64,
    pub usual_max_kg: f64,
    pub provenance: Provenance,
}

/// The unit a product is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Unit {
    #[serde(rename = "cells")]
    Cells,
    #[serde(rename = "mL")]
    Ml,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Cells => "cells",
            Unit::Ml => "mL",
        }
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
    pub components: Vec<Component>,
    pub visits: Vec<Visit>,
    pub background: Vec<Background>,
}

/// What a dosing component does to the patient; it becomes the CSV `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKind {
    CellInfusion,
    PlasmaExchange,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::CellInfusion => "cell_infusion",
            ComponentKind::PlasmaExchange => "plasma_exchange",
        }
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
    pub provenance: Provenance,
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
