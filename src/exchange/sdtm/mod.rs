//! CDISC SDTM datasets as Dataset-JSON v1.1 with a CSV beside each: the trial design
//! (TA, TE, TV, TS: [`design`]), the subjects (DM, SV: [`subjects`]) and their exposure
//! (EX, EC, PR and the supplemental qualifiers SUPPEX, SUPPEC, SUPPPR: [`exposure`]).
//!
//! Every coded value comes from [`TERMS`], the one table of the CDISC controlled terms this
//! export writes (each with its codelist and code), of the terms from CDISC codelists that
//! the shipped terminology package does not hold (EPOCH, ARMNULRS), and of the terms we
//! extend an extensible codelist with, each with its reason.

pub mod dataset;
pub mod design;
pub mod exposure;
pub mod subjects;

use chrono::NaiveDate;

use super::{Export, Files, Options, Subject};
use crate::model::{Arm, Interval, TimingRule, Trial};
use crate::schedule::{Event, Origin};
use dataset::Header;

/// Where a coded term comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// In the CDISC terminology package shipped in shared/data/cdisc-ct (its code given).
    Package(&'static str),
    /// A term of a CDISC codelist that package does not hold (SDTM-only codelists).
    NotShipped,
    /// A term we add to an extensible codelist, with the reason.
    Extended(&'static str),
}

/// One coded value: its codelist, the submission value, where it comes from.
pub type Term = (&'static str, &'static str, Source);

/// Every coded value this export writes. Mirrored in tests/exports/sdtm.py (`TERMS`).
pub const TERMS: &[Term] = &[
    ("UNIT", "Therapeutic Cells", Source::Package("C187669")),
    ("UNIT", "mL", Source::Package("C28254")),
    ("ROUTE", "INTRAVENOUS", Source::Package("C38276")),
    ("FRM", "INJECTION, SUSPENSION", Source::Package("C42995")),
    ("NY", "Y", Source::Package("C49488")),
    ("NY", "N", Source::Package("C49487")),
    ("SEX", "U", Source::Package("C17998")),
    ("FREQ", "ONCE", Source::Package("C64576")),
    ("FREQ", "QD", Source::Package("C25473")),
    ("FREQ", "QOD", Source::Package("C64525")),
    ("FREQ", "Q3D", Source::Package("C64533")),
    ("FREQ", "Q4D", Source::Package("C64534")),
    ("FREQ", "Q5D", Source::Package("C71124")),
    ("FREQ", "Q6D", Source::Package("C161335")),
    ("FREQ", "EVERY WEEK", Source::Package("C67069")),
    ("FREQ", "EVERY 2 WEEKS", Source::Package("C71127")),
    ("FREQ", "EVERY 3 WEEKS", Source::Package("C64535")),
    ("FREQ", "EVERY 4 WEEKS", Source::Package("C64529")),
    ("FREQ", "EVERY 5 WEEKS", Source::Package("C103390")),
    ("FREQ", "EVERY 6 WEEKS", Source::Package("C89788")),
    ("FREQ", "EVERY 7 WEEKS", Source::Package("C116149")),
    ("FREQ", "EVERY 8 WEEKS", Source::Package("C103389")),
    ("FREQ", "EVERY 10 WEEKS", Source::Package("C189433")),
    ("FREQ", "EVERY 12 WEEKS", Source::Package("C161332")),
    ("FREQ", "EVERY 13 WEEKS", Source::Package("C189434")),
    ("FREQ", "EVERY 16 WEEKS", Source::Package("C161336")),
    (
        "FREQ",
        "EVERY 24 WEEKS",
        Source::Extended(
            "FREQ (extensible) has EVERY n WEEKS up to 16 weeks; NCT05106972 doses every 24 weeks, which no term says (Q6M is calendar months)",
        ),
    ),
    ("FREQ", "QM", Source::Package("C64498")),
    ("FREQ", "Q2M", Source::Package("C64536")),
    ("FREQ", "Q3M", Source::Package("C64537")),
    ("FREQ", "Q4M", Source::Package("C64538")),
    ("FREQ", "Q6M", Source::Package("C89789")),
    ("FREQ", "INTERMITTENT", Source::Package("C71325")),
    ("EPOCH", "TREATMENT", Source::NotShipped),
    ("EPOCH", "FOLLOW-UP", Source::NotShipped),
    ("ARMNULRS", "ASSIGNED, NOT TREATED", Source::NotShipped),
];

/// The terminology package the codes of [`TERMS`] are from (TS's TSVCDVER).
pub const CT_VERSION: &str = "2026-03-27";

/// `value` of `codelist` with its code, if [`TERMS`] has it from the package.
pub fn code(codelist: &str, value: &str) -> Option<&'static str> {
    TERMS.iter().find_map(|(l, v, s)| match s {
        Source::Package(c) if *l == codelist && *v == value => Some(*c),
        _ => None,
    })
}

/// The files: each dataset as `<name>.json` and `<name>.csv`, lower-case names.
pub fn files(export: &Export, options: &Options) -> anyhow::Result<Files> {
    let plan = VisitPlan::of(export.trial);
    let mut sets = design::datasets(export, &plan)?;
    sets.extend(subjects::datasets(export, &plan));
    sets.extend(exposure::datasets(export, &plan)?);
    let header = Header {
        study: &export.trial.id,
        created: options.created,
    };
    let mut files = Files::new();
    for d in &sets {
        let stem = d.name.to_ascii_lowercase();
        files.push((format!("{stem}.json"), d.json(&header)));
        files.push((format!("{stem}.csv"), d.csv()?));
    }
    Ok(files)
}

/// `<trial>-<patient id>`: unique across every study of a submission.
pub fn usubjid(trial: &Trial, s: &Subject) -> String {
    format!("{}-{}", trial.id, s.patient.id)
}

/// An arm's ARMCD: its id upper-cased, anything but letters, digits and `_` as `_`, at
/// most 20 characters.
pub fn armcd(arm: &Arm) -> String {
    arm.id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .take(20)
        .collect()
}

/// The study day of `date` for a patient whose day 1 is `start` (SDTM has no day 0).
pub fn study_day(start: NaiveDate, date: NaiveDate) -> i64 {
    let d = (date - start).num_days();
    if d >= 0 { d + 1 } else { d }
}

/// FREQ for a component's timing rule: the interval between doses, "ONCE" for one dose,
/// "INTERMITTENT" where doses are not evenly spaced or no term says the interval.
pub fn frequency(rule: &TimingRule) -> &'static str {
    if rule.count() <= 1 {
        return "ONCE";
    }
    let interval = match rule {
        TimingRule::Every { interval, .. } => Some(*interval),
        TimingRule::Days(days) => {
            let gaps: Vec<u32> = days.windows(2).map(|w| w[1] - w[0]).collect();
            let even = gaps.iter().all(|g| *g == gaps[0]);
            even.then(|| {
                if gaps[0].is_multiple_of(7) {
                    Interval::Weeks(gaps[0] / 7)
                } else {
                    Interval::Days(gaps[0])
                }
            })
        }
    };
    let term = match interval {
        Some(Interval::Days(1)) => "QD".to_string(),
        Some(Interval::Days(2)) => "QOD".to_string(),
        Some(Interval::Days(n)) if n.is_multiple_of(7) => every_weeks(n / 7),
        Some(Interval::Days(n)) => format!("Q{n}D"),
        Some(Interval::Weeks(n)) => every_weeks(n),
        Some(Interval::Months(1)) => "QM".to_string(),
        Some(Interval::Months(n)) => format!("Q{n}M"),
        None => String::new(),
    };
    TERMS
        .iter()
        .find(|(l, v, _)| *l == "FREQ" && *v == term)
        .map_or("INTERMITTENT", |(_, v, _)| v)
}

fn every_weeks(n: u32) -> String {
    if n == 1 {
        "EVERY WEEK".to_string()
    } else {
        format!("EVERY {n} WEEKS")
    }
}

/// ROUTE for a scenario's route text ("peripheral intravenous", "intravenous").
pub fn route(text: &str) -> anyhow::Result<&'static str> {
    let t = text.to_ascii_lowercase();
    if t.contains("intravenous") || t == "iv" || t == "i.v." {
        Ok("INTRAVENOUS")
    } else {
        anyhow::bail!(
            "the sdtm export has no CDISC ROUTE term for the route \"{text}\": only intravenous routes are known so far"
        )
    }
}

/// The epoch of a patient's event: "TREATMENT" up to the last dose of their calendar,
/// "FOLLOW-UP" after it; an arm with no doses (background treatment only) is in
/// treatment throughout.
pub fn epoch(s: &Subject, date: NaiveDate) -> &'static str {
    let last = s
        .events
        .iter()
        .filter(|e| e.kind.is_dose())
        .map(|e| e.date)
        .max();
    match last {
        Some(last) if date > last => "FOLLOW-UP",
        _ => "TREATMENT",
    }
}

/// When a planned visit falls: a study day, or calendar months after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum When {
    Day(u32),
    Months { base: u32, months: u32 },
}

impl When {
    /// The study day it is near (a month as 30.4375 days), to order visits.
    fn approx_day(self) -> u32 {
        match self {
            When::Day(d) => d,
            When::Months { base, months } => base + (months * 304375).div_ceil(10000),
        }
    }
}

/// One planned visit of the trial: a dosing day or a study visit.
#[derive(Debug, Clone)]
pub struct PlanVisit {
    /// VISITNUM: 1, 2, ... in the order of their study days.
    pub num: u32,
    pub when: When,
    /// VISIT: "Day 8", "Month 3", or the study visit's name.
    pub name: String,
    /// The indexes of the arms it is a visit of, in trial order.
    pub arms: Vec<usize>,
}

/// The planned visits of every arm: a visit per dosing day and per study visit.
#[derive(Debug, Clone)]
pub struct VisitPlan {
    pub visits: Vec<PlanVisit>,
}

impl VisitPlan {
    pub fn of(trial: &Trial) -> VisitPlan {
        let mut found: Vec<(When, Option<String>, usize)> = Vec::new();
        for (a, arm) in trial.arms.iter().enumerate() {
            for c in &arm.components {
                for k in 1..=c.timing.rule.count() {
                    found.push((when(&c.timing.rule, k), None, a));
                }
            }
            for v in &arm.visits {
                found.push((When::Day(v.day), Some(v.name.clone()), a));
            }
        }
        found.sort_by_key(|(w, _, _)| (w.approx_day(), *w));
        let mut visits: Vec<PlanVisit> = Vec::new();
        for (w, name, a) in found {
            match visits.iter_mut().find(|v| v.when == w) {
                Some(v) => {
                    if !v.arms.contains(&a) {
                        v.arms.push(a);
                    }
                    if let Some(n) = name {
                        v.name = n;
                    }
                }
                None => visits.push(PlanVisit {
                    num: visits.len() as u32 + 1,
                    when: w,
                    name: name.unwrap_or_else(|| default_name(w)),
                    arms: vec![a],
                }),
            }
        }
        VisitPlan { visits }
    }

    /// The planned visit an event of `arm` belongs to (none for background treatment).
    pub fn of_event(&self, arm: &Arm, e: &Event) -> Option<&PlanVisit> {
        let w = match e.origin {
            Origin::Component(c) => when(&arm.components[c].timing.rule, e.occurrence),
            Origin::Visit(v) => When::Day(arm.visits[v].day),
            Origin::Background(_) => return None,
        };
        self.visits.iter().find(|v| v.when == w)
    }
}

fn default_name(w: When) -> String {
    match w {
        When::Day(d) => format!("Day {d}"),
        When::Months { base: 1, months } => format!("Month {months}"),
        When::Months { base, months } => format!("Month {months} after day {base}"),
    }
}

/// When occurrence `k` (1-based) of a timing rule is planned.
fn when(rule: &TimingRule, k: u32) -> When {
    let k0 = k.saturating_sub(1);
    match rule {
        TimingRule::Days(days) => When::Day(days.get(k0 as usize).copied().unwrap_or(0)),
        TimingRule::Every {
            start_day,
            interval,
            ..
        } => match interval {
            Interval::Days(n) => When::Day(start_day + k0 * n),
            Interval::Weeks(n) => When::Day(start_day + k0 * 7 * n),
            Interval::Months(_) if k0 == 0 => When::Day(*start_day),
            Interval::Months(n) => When::Months {
                base: *start_day,
                months: k0 * n,
            },
        },
    }
}

/// The values of one row, for a domain's `push`.
pub type Row = Vec<dataset::Value>;

/// Convenience for the domain builders.
pub(crate) fn t(s: impl Into<String>) -> dataset::Value {
    dataset::Value::text(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timing_rule_gives_its_freq_term() {
        let every = |interval, count| TimingRule::Every {
            start_day: 1,
            interval,
            count,
        };
        assert_eq!(frequency(&every(Interval::Weeks(1), 4)), "EVERY WEEK");
        assert_eq!(frequency(&every(Interval::Days(3), 3)), "Q3D");
        assert_eq!(frequency(&every(Interval::Months(3), 4)), "Q3M");
        assert_eq!(frequency(&every(Interval::Weeks(24), 2)), "EVERY 24 WEEKS");
        assert_eq!(frequency(&every(Interval::Weeks(9), 2)), "INTERMITTENT");
        assert_eq!(frequency(&every(Interval::Weeks(1), 1)), "ONCE");
        assert_eq!(frequency(&TimingRule::Days(vec![1, 4, 7, 10])), "Q3D");
        assert_eq!(frequency(&TimingRule::Days(vec![1, 8, 15])), "EVERY WEEK");
        assert_eq!(
            frequency(&TimingRule::Days(vec![1, 7, 14, 21])),
            "INTERMITTENT"
        );
    }

    #[test]
    fn every_term_is_in_the_shipped_codelists_or_says_why_not() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/data/cdisc-ct/codelists.csv"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            return; // the shared data is not beside this checkout
        };
        for (list, value, source) in TERMS {
            if let Source::Package(code) = source {
                let quoted = if value.contains(',') {
                    format!("\"{value}\"")
                } else {
                    value.to_string()
                };
                let needle = format!("{list},");
                let line = format!(",{code},{quoted},");
                assert!(
                    text.lines()
                        .any(|l| l.starts_with(&needle) && l.contains(&line)),
                    "{list} {value} {code}"
                );
            }
        }
    }

    #[test]
    fn study_days_skip_day_zero() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(study_day(d("2026-08-03"), d("2026-08-03")), 1);
        assert_eq!(study_day(d("2026-08-03"), d("2026-08-10")), 8);
        assert_eq!(study_day(d("2026-08-03"), d("2026-08-02")), -1);
    }
}
