//! The cross-trial comparison: every arm that gives cells, of every trial, as cumulative
//! cells/kg over study days on one chart. Per-kg doses are taken as the registry states
//! them; fixed doses are divided by one reference weight, which the subtitle names,
//! because a fixed dose has no cells/kg of its own.
//!
//! `compare` takes any number of scenario files, so the chart may hold hundreds of curves
//! (50 trials of 20 arms are 1,000). Decided: the chart keeps its size, and every curve is
//! drawn, in the order of the files and their arms. Colours and markers repeat after 10
//! and 5, so beyond a few dozen curves the chart shows the spread of regimens rather than
//! each one. The legend (see `parts::legend_column`) lists the curves in that order as long
//! as they fit, set tighter first, and then says "+N more series not listed (all drawn)";
//! its labels are shortened in both parts (trial id and arm id) so both show. Grouping the
//! lines (one legend entry per trial, say) was not chosen: arms of one trial differ, and
//! a group's entry would name no curve. Beyond 40 curves, only curves identical to an
//! earlier one are found and drawn shifted (`cumulative::show_coinciding`), and markers are
//! spaced so that the chart draws at most 2,000 of them; the step curves show every dose.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::cumulative::{
    ArmEvents, Curve, StepChart, arm_events, is_monthly, show_coinciding, steps, x_end,
};
use super::parts::*;
use super::{Chart, ChartError};
use crate::model::Trial;

/// Where a log axis starts, in cells/kg: below every single dose in the bundled trials,
/// and low enough that a small first dose still shows as a step.
const LOG_FLOOR: f64 = 1e4;

pub(super) struct Compare(StepChart);

impl Compare {
    pub fn new(trials: &[Trial], reference_weight_kg: f64, log: bool) -> Result<Self, ChartError> {
        let day1 = super::DEFAULT_START;
        let mut found: Vec<(usize, String, ArmEvents)> = Vec::new();
        let mut any_fixed = false;
        let mut any_monthly = false;
        let mut smallest = f64::INFINITY;
        for (t, trial) in trials.iter().enumerate() {
            for arm in &trial.arms {
                let ev = arm_events(trial, arm, reference_weight_kg, day1, true, None)?;
                if ev.doses.is_empty() {
                    continue;
                }
                any_fixed |= ev.converted_fixed;
                any_monthly |= is_monthly(arm);
                smallest = ev.doses.iter().map(|d| d.1).fold(smallest, f64::min);
                let name = format!("{} {}", trial.id, arm.id);
                found.push((t, name, ev));
            }
        }
        if found.is_empty() {
            return Err(ChartError::NothingToCompare);
        }
        let last = found
            .iter()
            .map(|f| f.2.last_dose_day())
            .fold(1.0, f64::max);
        let x_max = x_end(last);
        let mut curves: Vec<Curve> = found
            .iter()
            .enumerate()
            .map(|(i, (t, name, ev))| {
                let (corners, marks) = steps(&ev.doses, x_max);
                Curve {
                    label: format!("{name}{}", if ev.converted_fixed { " *" } else { "" }),
                    name: name.clone(),
                    remark: None,
                    color: color(i),
                    marker: MARKERS[t % MARKERS.len()],
                    corners,
                    marks,
                    shift: 0,
                    projected_after: None,
                    hollow: Vec::new(),
                    moved: Vec::new(),
                    given: None,
                }
            })
            .collect();
        let (x_desc, dates_from) = day_axis(None, any_monthly);
        // A curve drawn over another would hide it: shift it and say so.
        show_coinciding(&mut curves, x_max, dates_from);

        let log_floor = log.then(|| {
            // A first dose below the usual floor still needs a visible step.
            let mut floor = LOG_FLOOR;
            while floor > smallest && floor > 1.0 {
                floor /= 10.0;
            }
            floor
        });
        let trial_count = found
            .iter()
            .map(|f| f.0)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let mut subtitle = if any_fixed {
            format!(
                "* fixed dose, converted to cells/kg at a reference weight of {}",
                kg(reference_weight_kg)
            )
        } else {
            format!(
                "Reference weight {} (no fixed doses to convert)",
                kg(reference_weight_kg)
            )
        };
        if let Some(f) = log_floor {
            subtitle.push_str(&format!(
                "; log scale from {} cells/kg",
                pow10_label(f.log10().round() as i32)
            ));
        }
        let note = super::assumed_note(trials.iter().flat_map(|t| {
            t.arms
                .iter()
                .map(move |a| (a, format!("{} {}", t.id, a.id)))
        }));
        if !note.is_empty() {
            subtitle = format!("{subtitle}\n{note}");
        }
        Ok(Compare(StepChart {
            title: format!(
                "Cumulative cell dose per kg: {} arms of {} trials",
                found.len(),
                trial_count
            ),
            subtitle,
            x_desc,
            y_desc: "Cumulative dose (cells/kg)".to_string(),
            y_plain: false,
            dates_from,
            x_max,
            log_floor,
            curves,
            exchanges: Vec::new(),
            exchange_label: String::new(),
            visits: Vec::new(),
            later_visits: Vec::new(),
            empty_note: String::new(),
            legend_noun: "series",
        }))
    }
}

impl Chart for Compare {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        self.0.draw(root)
    }
}
