//! Regimen values in words, for `show`, the report and messages: "1.00 x 10^5 cells/kg",
//! "every 3 months from day 1, 4 times". One place, so every output words them alike.

use crate::format::{Amount, sci, sci_exact, trim_decimals};
use crate::model::*;
use crate::schedule::component_totals;

/// What a total that sums an assumed value says after the number.
pub const INCLUDES_ASSUMED: &str = "includes assumed doses";

/// The total of all of a component's doses in words: "4.80 x 10⁶ cells/kg",
/// "8000 mL (fixed)", marked "(includes assumed doses)" when the dose is assumed.
pub fn component_total(c: &Component, unit: Unit) -> String {
    let (_, total) = component_totals(c);
    let words = match (c.dose.amount, total) {
        (DoseAmount::PerKg(_), Some(t)) => format!("{} {}/kg", sci_exact(t), unit.as_str()),
        (DoseAmount::Fixed(_), Some(t)) => {
            format!("{} (fixed)", Amount { value: t, unit }.readable())
        }
        _ => return "no dose".into(),
    };
    if c.dose.provenance.is_assumed() {
        format!("{words} ({INCLUDES_ASSUMED})")
    } else {
        words
    }
}

pub fn dose(d: &Dose, unit: Unit) -> String {
    let mut s = match d.amount {
        DoseAmount::PerKg(k) => format!("{} {}/kg", sci_exact(k), unit.as_str()),
        DoseAmount::Fixed(x) => match unit {
            Unit::Cells => format!("{} cells (fixed)", sci_exact(x)),
            Unit::Ml => format!("{} mL (fixed)", trim_decimals(x, 2)),
        },
        DoseAmount::None => "no dose".to_string(),
    };
    if let Some(r) = d.round_to {
        s.push_str(&format!(", rounded to {} {}", sci(r), unit.as_str()));
    }
    if let Some(m) = d.max_per_dose {
        s.push_str(&format!(", at most {} {} per dose", sci(m), unit.as_str()));
    }
    s
}

pub fn timing(t: &Timing, components: &[Component]) -> String {
    let mut s = match &t.rule {
        TimingRule::Days(days) => {
            let list: Vec<String> = days.iter().map(u32::to_string).collect();
            format!("study days {}", list.join(", "))
        }
        TimingRule::Every {
            start_day,
            interval,
            count,
        } => {
            let every = match interval {
                Interval::Days(1) => "every day".to_string(),
                Interval::Days(n) => format!("every {n} days"),
                Interval::Weeks(1) => "once a week".to_string(),
                Interval::Weeks(n) => format!("every {n} weeks"),
                Interval::Months(1) => "every calendar month".to_string(),
                Interval::Months(n) => format!("every {n} calendar months"),
            };
            let mut s = format!("{every} from study day {start_day}, {count} times");
            if let Some(days) = t.rule.fixed_days() {
                let list: Vec<String> = days.iter().map(u32::to_string).collect();
                s.push_str(&format!(" (days {})", list.join(", ")));
            }
            s
        }
    };
    if let Some(a) = &t.after {
        let which = match &a.occurrences {
            Some(o) => {
                let l: Vec<String> = o.iter().map(u32::to_string).collect();
                format!("occurrences {}", l.join(", "))
            }
            None => "each occurrence".to_string(),
        };
        s.push_str(&format!(
            "; {which} given after the {} that day",
            components[a.component].name
        ));
    }
    s
}

/// A visit window: "-3 / +3 days".
pub fn window(w: &Window) -> String {
    format!("-{} / +{} days", w.days_before, w.days_after)
}

/// "Week 48 study visit on study day 337" (with its window, if any).
pub fn visit(v: &Visit) -> String {
    let mut s = format!("{} on study day {}", v.name, v.day);
    if let Some(w) = &v.window {
        s.push_str(&format!(", window {}", window(w)));
    }
    s
}

/// "Human serum albumin 10 g/day from study day 1, until serum albumin reaches 35 g/L".
pub fn background(b: &Background) -> String {
    let mut s = b.name.clone();
    if let Some(d) = &b.detail {
        s.push_str(&format!(" ({d})"));
    }
    s.push_str(&format!(" from study day {}, ", b.start_day));
    match &b.until {
        Some(u) => s.push_str(&format!("until {u}")),
        None => s.push_str("stop condition not stated in the record"),
    }
    s
}

/// Where a value comes from, in one line.
pub fn provenance(p: &Provenance) -> String {
    match (&p.source, &p.assumed) {
        (Some(s), None) => format!("record: \"{s}\""),
        (None, Some(a)) => format!("ASSUMED: {a}"),
        (Some(s), Some(a)) => format!("ASSUMED: {a} (record: \"{s}\")"),
        (None, None) => String::new(),
    }
}
