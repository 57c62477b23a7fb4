//! Regimen values in words, for `show`, the report and messages: "1.00 x 10^5 cells/kg",
//! "every 3 months from day 1, 4 times". One place, so every output words them alike.

use crate::export::{sci, trim_decimals};
use crate::model::*;

pub fn dose(d: &Dose, unit: Unit) -> String {
    let mut s = match d.amount {
        DoseAmount::PerKg(k) => format!("{} {}/kg", sci(k), unit.as_str()),
        DoseAmount::Fixed(x) => match unit {
            Unit::Cells => format!("{} cells (fixed)", sci(x)),
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

/// "1, 4, 7" style list of a visit window.
pub fn window(w: &Window) -> String {
    format!("-{} / +{} days", w.days_before, w.days_after)
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
