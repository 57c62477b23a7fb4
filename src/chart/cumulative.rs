//! The cumulative dose chart: for each arm, the running total of cells a patient has
//! received, as a step curve over study days (a dose is instantaneous, so the total is
//! flat between doses and jumps on the dose day). `compare` draws its curves with the same
//! [`StepChart`], so both charts read alike.

use anyhow::Result;
use chrono::NaiveDate;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::parts::*;
use super::{Chart, ChartError};
use crate::model::{Arm, Trial, Unit};
use crate::schedule::{EventKind, Origin, Patient, Plan};

/// (study day, name) of visits.
pub(super) type DayNames = Vec<(f64, String)>;
/// Chart points in data units.
pub(super) type Points = Vec<(f64, f64)>;

/// What became of a dose a chart draws, by the administration record and the site
/// calendar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct DoseState {
    /// Due by the record's as-of date and not recorded as given.
    pub overdue: bool,
    /// Moved off its planned date by the site calendar (a closed day), not by the record.
    pub moved: bool,
}

impl DoseState {
    fn of(e: &crate::schedule::Event) -> Self {
        use crate::moves::Flags;
        DoseState {
            overdue: e.status == crate::recorded::Status::Due,
            moved: e.flags.contains(Flags::SHIFTED) && !e.flags.contains(Flags::REPROJECTED),
        }
    }
}

/// What one arm contributes to a chart, from the schedule core's events.
#[derive(Clone)]
pub(super) struct ArmEvents {
    /// (study day, amount) of every cell infusion in calendar order; the amount is in
    /// cells, or in cells/kg when asked for.
    pub doses: Vec<(f64, f64)>,
    /// What became of each of `doses`, in the same order.
    pub dose_states: Vec<DoseState>,
    /// Study days of plasma exchanges, with the volume in mL when dosed.
    pub exchanges: Vec<(f64, Option<f64>)>,
    /// What became of each of `exchanges`, in the same order.
    pub exchange_states: Vec<DoseState>,
    /// (study day, visit name).
    pub visits: Vec<(f64, String)>,
    /// True when a fixed dose had to be divided by the weight to give cells/kg.
    pub converted_fixed: bool,
    /// The short names of the cell products given.
    pub products: Vec<String>,
}

impl ArmEvents {
    /// The arm's plasma exchanges as its doses, in mL (those with a volume), for the
    /// chart of a patient or arm given no cells: the volume exchanged is then what adds up.
    fn plasma_as_doses(self) -> Self {
        let (doses, dose_states) = self
            .exchanges
            .iter()
            .zip(&self.exchange_states)
            .filter_map(|(&(day, ml), state)| ml.map(|ml| ((day, ml), *state)))
            .unzip();
        ArmEvents {
            doses,
            dose_states,
            exchanges: Vec::new(),
            exchange_states: Vec::new(),
            products: Vec::new(),
            converted_fixed: false,
            ..self
        }
    }

    pub fn last_dose_day(&self) -> f64 {
        self.doses.last().map_or(0.0, |d| d.0)
    }

    /// The last day with a dose of any kind (cells or exchange).
    pub fn last_dosing_day(&self) -> f64 {
        self.exchanges
            .iter()
            .map(|e| e.0)
            .fold(self.last_dose_day(), f64::max)
    }
}

/// A visit more than this many times later than the last dose is left off the day axis
/// (and named beside it instead): a week-48 visit after a three-week regimen would squeeze
/// every dose into the first few pixels.
const FAR_VISIT_FACTOR: f64 = 10.0;

/// Splits visits into those the day axis shows and those too far after the last dose.
/// Without any dose, every visit is shown.
pub(super) fn split_visits(visits: &[(f64, String)], last_dosing_day: f64) -> (DayNames, DayNames) {
    if last_dosing_day <= 0.0 {
        return (visits.to_vec(), Vec::new());
    }
    visits
        .iter()
        .cloned()
        .partition(|v| v.0 <= FAR_VISIT_FACTOR * last_dosing_day)
}

/// Expands `arm` for one patient and keeps what the charts draw. A schedule that cannot be
/// made (a dose above the scenario's maximum at this weight, say) is a
/// [`ChartError::Schedule`] naming the scenario file and the arm.
pub(super) fn arm_events(
    trial: &Trial,
    arm: &Arm,
    weight_kg: f64,
    start: NaiveDate,
    per_kg: bool,
    calendar: Option<&crate::site::SiteCalendar>,
) -> Result<ArmEvents, ChartError> {
    let patient = Patient {
        id: "chart".to_string(),
        weight_kg: crate::model::Kg::from_f64(weight_kg),
        start,
        site: None,
    };
    let events = Plan::new(trial, arm)
        .schedule_at(&patient, calendar)
        .map_err(|error| ChartError::Schedule {
            file: trial.file.clone(),
            arm: arm.id.clone(),
            error,
        })?;
    Ok(events_of(trial, arm, weight_kg, per_kg, &events))
}

/// What the charts draw of one arm's expanded events.
pub(super) fn events_of(
    trial: &Trial,
    arm: &Arm,
    weight_kg: f64,
    per_kg: bool,
    events: &[crate::schedule::Event],
) -> ArmEvents {
    let mut out = ArmEvents {
        doses: Vec::new(),
        dose_states: Vec::new(),
        exchanges: Vec::new(),
        exchange_states: Vec::new(),
        visits: Vec::new(),
        converted_fixed: false,
        products: Vec::new(),
    };
    for e in events {
        let day = e.study_day as f64;
        match (e.kind, e.origin) {
            (EventKind::CellInfusion, Origin::Component(c)) => {
                let product = &trial.products[arm.components[c].product];
                let Some(dose) = e.dose.filter(|_| product.unit == Unit::Cells) else {
                    continue;
                };
                let amount = if !per_kg {
                    dose
                } else if let Some(k) = e.dose_per_kg {
                    // The registry's cells/kg, not the rounded dose divided back.
                    k
                } else {
                    out.converted_fixed = true;
                    dose / weight_kg
                };
                out.doses.push((day, amount));
                out.dose_states.push(DoseState::of(e));
                let name = product_short(&product.id);
                if !out.products.contains(&name) {
                    out.products.push(name);
                }
            }
            (EventKind::PlasmaExchange, _) => {
                out.exchanges.push((day, e.dose));
                out.exchange_states.push(DoseState::of(e));
            }
            (EventKind::Visit, Origin::Visit(v)) => {
                out.visits.push((day, visit_name(&arm.visits[v])));
            }
            _ => {}
        }
    }
    out
}

/// A step curve's corners split at study day `after`: up to it (solid), and from it on
/// (dashed), both through the point at `after`. Without a day, all of it is the first.
pub(super) fn split_projected(corners: &[(f64, f64)], after: Option<f64>) -> (Points, Points) {
    let Some(a) = after else {
        return (corners.to_vec(), Vec::new());
    };
    let k = corners.partition_point(|p| p.0 <= a);
    if k == 0 || k == corners.len() {
        return if k == 0 {
            (Vec::new(), corners.to_vec())
        } else {
            (corners.to_vec(), Vec::new())
        };
    }
    let y = corners[k - 1].1;
    let mut given = corners[..k].to_vec();
    given.push((a, y));
    let mut projected = vec![(a, y)];
    projected.extend_from_slice(&corners[k..]);
    (given, projected)
}

/// What a chart calls a visit: its name in the scenario (never its id, which reads like a
/// day number: "day30" is on study day 31).
pub(super) fn visit_name(v: &crate::model::Visit) -> String {
    let name = v.name.trim();
    if name.is_empty() {
        "Visit".to_string()
    } else {
        name.to_string()
    }
}

/// A step curve's corners from (0, 0) to `x_max`, and the point after each dose (where
/// its marker goes). Doses on one day stack: one jump, one marker per dose.
pub(super) fn steps(doses: &[(f64, f64)], x_max: f64) -> (Points, Points) {
    let mut corners = vec![(0.0, 0.0)];
    let mut marks = Vec::new();
    let mut total = 0.0;
    for &(day, amount) in doses {
        corners.push((day, total));
        total += amount;
        corners.push((day, total));
        marks.push((day, total));
    }
    corners.push((x_max, total));
    (corners, marks)
}

/// The right end of a day axis: the last day of interest plus a margin, so its marker is
/// not drawn on the frame.
pub(super) fn x_end(last_day: f64) -> f64 {
    (last_day * 1.05 + 2.0).ceil().max(7.0)
}

pub(super) struct Curve {
    pub label: String,
    /// What a remark on another curve calls this one ("msc-8w", "NCT01724398 msc").
    pub name: String,
    /// Said under the label in the legend.
    pub remark: Option<String>,
    pub color: RGBColor,
    pub marker: Marker,
    pub corners: Points,
    pub marks: Points,
    /// How many steps of [`SHIFT_PX`] the curve is drawn right of and above its values,
    /// so that it does not hide under a curve it coincides with (0: drawn where it is).
    /// Only the drawing moves; the data keep their values.
    pub shift: i32,
    /// The study day after which the curve is a projection (drawn dashed): the
    /// administration record's as-of date; `None`: all of it is drawn solid.
    pub projected_after: Option<f64>,
    /// The points after overdue doses (due, not recorded as given): drawn hollow, on the
    /// dashed line. `marks` holds the others.
    pub hollow: Points,
    /// The points after doses the site calendar moved off a closed day: ringed.
    pub moved: Points,
    /// The corners of the doses given alone, when they differ from `corners` (overdue
    /// doses): the solid line up to `projected_after`.
    pub given: Option<Points>,
}

impl Curve {
    /// For a record with overdue doses: the solid line is the total of the doses given
    /// (to study day `as_of`), which the overdue ones are not part of, and the marks of
    /// those given sit on it. The dashed line (every dose) leaves it at the first overdue
    /// dose.
    fn given_alone(&mut self, ev: &ArmEvents, as_of: f64) {
        let given: Vec<(f64, f64)> = ev
            .doses
            .iter()
            .zip(&ev.dose_states)
            .filter(|(d, s)| !s.overdue && d.0 <= as_of)
            .map(|(d, _)| *d)
            .collect();
        let (corners, given_marks) = steps(&given, 0.0);
        let (_, all_marks) = steps(&ev.doses, 0.0);
        let to_come = all_marks
            .iter()
            .zip(&ev.dose_states)
            .filter(|(p, s)| !s.overdue && p.0 > as_of)
            .map(|(p, _)| *p);
        self.marks = given_marks.into_iter().chain(to_come).collect();
        self.given = Some(corners);
    }

    /// The study day from which the curve is drawn dashed: its first overdue dose or the
    /// record's as-of date, whichever is first; `None`: all solid.
    pub fn dashed_from(&self) -> Option<f64> {
        let overdue = self.hollow.first().map(|p| p.0 - 1e-6);
        match (overdue, self.projected_after) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Pixels a shifted curve moves right and up per step of [`Curve::shift`].
pub(super) const SHIFT_PX: i32 = 3;

/// The stretches `[from, to)` of the day axis (0 to `x_max`) where two step curves,
/// given by the point after each dose (`marks`, in day order), have the same total. The
/// start before any dose, where every curve is 0, only counts when both curves stay at 0
/// throughout. One pass over both curves' marks.
pub(super) fn shared_stretches(a: &[(f64, f64)], b: &[(f64, f64)], x_max: f64) -> Points {
    // (from, to, whether the total is above 0 somewhere in it)
    let mut stretches: Vec<(f64, f64, bool)> = Vec::new();
    // The cuts are day 0 and every mark's day before x_max, in order; the total of a curve
    // on a day is its last mark on or before that day (doses on one day add up).
    let (mut i, mut j) = (0, 0);
    let (mut u, mut v) = (0.0, 0.0);
    let mut from = 0.0;
    loop {
        while i < a.len() && a[i].0 <= from {
            u = a[i].1;
            i += 1;
        }
        while j < b.len() && b[j].0 <= from {
            v = b[j].1;
            j += 1;
        }
        let next = match (a.get(i), b.get(j)) {
            (Some(p), Some(q)) => Some(p.0.min(q.0)),
            (Some(p), None) | (None, Some(p)) => Some(p.0),
            (None, None) => None,
        }
        .filter(|&d| d < x_max);
        let to = next.unwrap_or(x_max);
        if (u - v).abs() <= 1e-9 * f64::abs(u).max(v.abs()) {
            match stretches.last_mut() {
                Some(last) if last.1 == from => {
                    last.1 = to;
                    last.2 |= u != 0.0;
                }
                _ => stretches.push((from, to, u != 0.0)),
            }
        }
        match next {
            Some(d) => from = d,
            None => break,
        }
    }
    let both_zero = a.iter().chain(b).all(|p| p.1 == 0.0);
    stretches
        .into_iter()
        .filter(|s| s.2 || both_zero)
        .map(|s| (s.0, s.1))
        .collect()
}

/// Curves beyond this many are not compared pair by pair for stretches they share (that
/// is quadratic in the number of curves): only whole curves that are identical are found,
/// and said to be. A chart of more curves than this is read through its legend's first
/// entries anyway.
const PAIRWISE_MAX: usize = 40;

/// The most steps of [`SHIFT_PX`] a curve is drawn off its values: further curves on the
/// same values reuse the steps rather than drifting away from their data.
const MAX_SHIFT: i32 = 4;

/// At most this many shared stretches are listed in a remark; the rest are counted.
const STRETCHES_LISTED: usize = 6;

/// Finds the curves that lie on an earlier one over some stretch, shifts each (in pixels
/// only) by the smallest step that no earlier curve it meets uses, and says in its legend
/// remark where it coincides, with which curve (the one it shares most with) and by how
/// many pixels it is drawn off. `start` puts dates instead of day numbers in the remark.
/// Beyond [`PAIRWISE_MAX`] curves, only identical curves are found (see there).
pub(super) fn show_coinciding(curves: &mut [Curve], x_max: f64, start: Option<NaiveDate>) {
    if curves.len() > PAIRWISE_MAX {
        show_identical(curves);
        return;
    }
    let when = |d: f64| match start {
        Some(_) => day_label(d, start),
        None => format!("day {}", d.round() as i64),
    };
    for j in 1..curves.len() {
        let mut used = Vec::new();
        // (shared length, curve, stretches) of the earlier curve shared with most.
        let mut best: Option<(f64, usize, Points)> = None;
        for i in 0..j {
            let shared = shared_stretches(&curves[i].marks, &curves[j].marks, x_max);
            if shared.is_empty() {
                continue;
            }
            used.push(curves[i].shift);
            let length: f64 = shared.iter().map(|s| s.1 - s.0).sum();
            if best.as_ref().is_none_or(|b| length > b.0) {
                best = Some((length, i, shared));
            }
        }
        let Some((_, i, shared)) = best else {
            continue;
        };
        let shift = free_shift(&used);
        let other = &curves[i].name;
        let mut remark = if shared == [(0.0, x_max)] {
            same_as(&curves[j], other)
        } else {
            let mut parts: Vec<String> = shared
                .iter()
                .take(STRETCHES_LISTED)
                .map(|&(from, to)| {
                    if from <= 0.0 {
                        format!("until {}", when(to))
                    } else if to >= x_max {
                        format!("from {}", when(from))
                    } else if start.is_some() {
                        format!("{} to {}", when(from), when(to))
                    } else {
                        format!("days {}\u{2013}{}", from.round() as i64, to.round() as i64)
                    }
                })
                .collect();
            if shared.len() > STRETCHES_LISTED {
                parts.push(format!(
                    "{} more stretches",
                    shared.len() - STRETCHES_LISTED
                ));
            }
            format!("follows {other} {}", and_list(&parts))
        };
        if shift > 0 {
            remark.push_str(&format!("; drawn {} px up and right", shift * SHIFT_PX));
        }
        curves[j].shift = shift;
        curves[j].remark = Some(remark);
    }
}

/// The smallest shift step that none of `used` takes; when steps 1 to [`MAX_SHIFT`] are
/// all taken, the one taken least (the first of those).
fn free_shift(used: &[i32]) -> i32 {
    if let Some(s) = (0..=MAX_SHIFT).find(|s| !used.contains(s)) {
        return s;
    }
    (1..=MAX_SHIFT)
        .min_by_key(|s| used.iter().filter(|u| *u == s).count())
        .unwrap_or(1)
}

/// The remark of a curve identical to `other`'s.
fn same_as(curve: &Curve, other: &str) -> String {
    if curve.marks.is_empty() {
        format!("0 cells, like {other}")
    } else {
        format!("same curve as {other}")
    }
}

/// Finds, in one pass, each curve identical to an earlier one (the same totals on the
/// same days, to the bit), shifts it by the next step among the copies of that curve and
/// says so.
fn show_identical(curves: &mut [Curve]) {
    // The marks of each curve seen, as bits: (first curve with them, copies so far).
    let mut seen: std::collections::HashMap<Vec<(u64, u64)>, (usize, i32)> =
        std::collections::HashMap::new();
    for j in 0..curves.len() {
        let key: Vec<(u64, u64)> = curves[j]
            .marks
            .iter()
            .map(|p| (p.0.to_bits(), p.1.to_bits()))
            .collect();
        match seen.get_mut(&key) {
            None => {
                seen.insert(key, (j, 0));
            }
            Some((first, copies)) => {
                *copies += 1;
                let shift = (*copies - 1) % MAX_SHIFT + 1;
                let mut remark = same_as(&curves[j], &curves[*first].name);
                remark.push_str(&format!("; drawn {} px up and right", shift * SHIFT_PX));
                curves[j].shift = shift;
                curves[j].remark = Some(remark);
            }
        }
    }
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A chart of step curves over study days, with optional exchange bands and visit marks.
pub(super) struct StepChart {
    pub title: String,
    pub subtitle: String,
    pub x_desc: String,
    pub y_desc: String,
    /// The y axis's numbers written out in full (mL) rather than as powers of ten (cells).
    pub y_plain: bool,
    /// With a start date, ticks are labelled with dates.
    pub dates_from: Option<NaiveDate>,
    pub x_max: f64,
    /// A log y axis starting at this value (the cumulative dose starts at 0, which a log
    /// axis cannot show).
    pub log_floor: Option<f64>,
    pub curves: Vec<Curve>,
    pub exchanges: Vec<f64>,
    pub exchange_label: String,
    pub visits: Vec<(f64, String)>,
    /// Visits beyond the axis, as "Week 48 study visit on day 337".
    pub later_visits: Vec<String>,
    /// Said in the plot when no curve has a dose.
    pub empty_note: String,
    /// What the curves are, for the legend's note on those it leaves out ("arms").
    pub legend_noun: &'static str,
}

/// The cumulative chart of one trial's arms for one patient.
pub(super) struct Cumulative(pub(super) StepChart);

impl Cumulative {
    /// Names the patient in the title, for a chart that may be opened on its own.
    pub fn for_patient(mut self, trial: &Trial, patient_id: &str, arm_id: &str) -> Self {
        self.0.title = self.0.title.replacen(
            &format!("{}: ", trial.id),
            &format!("{} patient {patient_id} (arm {arm_id}): ", trial.id),
            1,
        );
        self
    }

    pub fn new(
        trial: &Trial,
        arms: &[&Arm],
        weight_kg: f64,
        start: Option<NaiveDate>,
        per_kg: bool,
    ) -> Result<Self, ChartError> {
        Self::on_calendar(trial, arms, weight_kg, start, per_kg, None)
    }

    /// As [`Cumulative::new`], with the doses where a site calendar puts them.
    pub fn on_calendar(
        trial: &Trial,
        arms: &[&Arm],
        weight_kg: f64,
        start: Option<NaiveDate>,
        per_kg: bool,
        calendar: Option<&crate::site::SiteCalendar>,
    ) -> Result<Self, ChartError> {
        if arms.is_empty() {
            return Err(ChartError::NoArms);
        }
        let day1 = start.unwrap_or(super::DEFAULT_START);
        let mut per_arm = Vec::new();
        for arm in arms {
            per_arm.push(arm_events(trial, arm, weight_kg, day1, per_kg, calendar)?);
        }
        Self::from_events(trial, arms, weight_kg, start, per_kg, per_arm, None)
    }

    /// One patient's chart from their calendar with the administration record applied:
    /// what was given to `as_of` solid, the re-projected rest dashed.
    pub fn recorded(
        trial: &Trial,
        arm: &Arm,
        weight_kg: f64,
        start: NaiveDate,
        events: &[crate::schedule::Event],
        as_of: NaiveDate,
    ) -> Result<Self, ChartError> {
        let ev = events_of(trial, arm, weight_kg, false, events);
        let day = crate::timing::day_of_date(start, as_of) as f64;
        let per_arm = vec![ev];
        let mut chart = Self::from_events(
            trial,
            &[arm],
            weight_kg,
            Some(start),
            false,
            per_arm,
            Some(day),
        )?;
        for c in &mut chart.0.curves {
            c.projected_after = Some(day);
            c.remark = Some(if c.hollow.is_empty() {
                format!("given to {as_of}, then re-projected (dashed)")
            } else {
                format!("given to {as_of} (solid); overdue and still to come, dashed")
            });
        }
        Ok(chart)
    }

    fn from_events(
        trial: &Trial,
        arms: &[&Arm],
        weight_kg: f64,
        start: Option<NaiveDate>,
        per_kg: bool,
        per_arm: Vec<ArmEvents>,
        as_of: Option<f64>,
    ) -> Result<Self, ChartError> {
        // A patient (or arm) given no cells is charted by the plasma they exchange.
        let plasma = per_arm.iter().all(|e| e.doses.is_empty())
            && per_arm
                .iter()
                .any(|e| e.exchanges.iter().any(|x| x.1.is_some()));
        let per_arm: Vec<ArmEvents> = if plasma {
            per_arm
                .into_iter()
                .map(ArmEvents::plasma_as_doses)
                .collect()
        } else {
            per_arm
        };
        let mut parts = Parts::default();
        for (i, (arm, ev)) in arms.iter().zip(&per_arm).enumerate() {
            parts.add(trial, (i, arm), ev, plasma, as_of);
        }
        let last_dosing = per_arm
            .iter()
            .map(ArmEvents::last_dosing_day)
            .fold(0.0, f64::max);
        parts.visits.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (visits, later) = split_visits(&parts.visits, last_dosing);
        let x_max = x_end(
            visits
                .iter()
                .map(|v| v.0)
                .fold(last_dosing.max(1.0), f64::max),
        );
        let mut curves = parts.curves;
        for c in &mut curves {
            for corners in std::iter::once(&mut c.corners).chain(c.given.as_mut()) {
                if let Some(end) = corners.last_mut() {
                    end.0 = x_max;
                }
            }
        }
        let monthly = arms.iter().any(|a| is_monthly(a));
        let (x_desc, dates_from) = day_axis(start, monthly);
        // A curve drawn over another would hide it: shift it and say so.
        show_coinciding(&mut curves, x_max, dates_from);
        let later_visits = later
            .iter()
            .map(|(day, name)| match dates_from {
                Some(_) => format!("{name} on {}", day_label(*day, dates_from)),
                None => format!("{name} on day {day}"),
            })
            .collect();
        let exchange_label = exchange_label(&parts.volumes, &parts.exchange_arms, arms.len());
        let (title, y_desc, empty_note) = if plasma {
            (
                format!("{}: cumulative plasma exchanged (mL)", trial.id),
                "Cumulative plasma exchanged (mL)".to_string(),
                "No plasma exchanges in the arms shown".to_string(),
            )
        } else {
            cell_words(trial, &parts.products, weight_kg, per_kg)
        };
        let fixed = per_kg && per_arm.iter().any(|e| e.converted_fixed);
        Ok(Cumulative(StepChart {
            title,
            subtitle: subtitle(trial, arms, weight_kg, fixed),
            x_desc,
            y_desc,
            y_plain: plasma,
            dates_from,
            x_max,
            log_floor: None,
            curves,
            exchanges: parts.exchanges,
            exchange_label,
            visits,
            later_visits,
            empty_note,
            legend_noun: "arms",
        }))
    }
}

/// What [`Cumulative::from_events`] gathers of each arm: its curve, and the exchanges,
/// visits and products of all of them.
#[derive(Default)]
struct Parts {
    products: Vec<String>,
    curves: Vec<Curve>,
    exchanges: Vec<f64>,
    exchange_arms: Vec<String>,
    volumes: Vec<f64>,
    visits: Vec<(f64, String)>,
}

impl Parts {
    /// Adds the chart's `i`-th arm (`plasma`: its doses are the plasma it exchanges;
    /// `as_of`: the study day of the record's as-of date, when a record applies).
    fn add(
        &mut self,
        trial: &Trial,
        (i, arm): (usize, &Arm),
        ev: &ArmEvents,
        plasma: bool,
        as_of: Option<f64>,
    ) {
        for p in &ev.products {
            if !self.products.contains(p) {
                self.products.push(p.clone());
            }
        }
        // The curve's end is moved to the axis end once the axis is known.
        let (corners, all_marks) = steps(&ev.doses, 0.0);
        let label = match (ev.doses.is_empty(), plasma) {
            (false, _) => arm.id.clone(),
            (true, false) => format!("{} (no cell doses)", arm.id),
            (true, true) => format!("{} (no plasma exchanges)", arm.id),
        };
        let pick = |f: fn(&DoseState) -> bool| -> Points {
            all_marks
                .iter()
                .zip(&ev.dose_states)
                .filter(|(_, s)| f(s))
                .map(|(p, _)| *p)
                .collect()
        };
        // Colour by the arm's place in the trial, so an arm looks the same whichever
        // arms are chosen.
        let k = trial.arms.iter().position(|a| a.id == arm.id).unwrap_or(i);
        self.curves.push(Curve {
            label,
            name: arm.id.clone(),
            remark: None,
            color: color(k),
            marker: MARKERS[k % MARKERS.len()],
            corners,
            marks: pick(|s| !s.overdue),
            hollow: pick(|s| s.overdue),
            moved: pick(|s| s.moved),
            given: None,
            shift: 0,
            projected_after: None,
        });
        if let (Some(day), Some(c)) = (as_of, self.curves.last_mut())
            && !c.hollow.is_empty()
        {
            c.given_alone(ev, day);
        }
        if !ev.exchanges.is_empty() {
            self.exchange_arms.push(arm.id.clone());
        }
        for &(day, ml) in &ev.exchanges {
            if !self.exchanges.contains(&day) {
                self.exchanges.push(day);
            }
            if let Some(ml) = ml
                && !self.volumes.contains(&ml)
            {
                self.volumes.push(ml);
            }
        }
        for v in &ev.visits {
            if !self.visits.contains(v) {
                self.visits.push(v.clone());
            }
        }
    }
}

/// True when a component of the arm comes every few calendar months: its study days then
/// depend on the start date.
pub(super) fn is_monthly(arm: &Arm) -> bool {
    arm.components.iter().any(|c| {
        matches!(
            c.timing.rule,
            crate::model::TimingRule::Every {
                interval: crate::model::Interval::Months(_),
                ..
            }
        )
    })
}

/// The legend's words for the exchange bands: their volume when all have one, and the
/// arms with exchanges when not all of the `arms` shown have them.
fn exchange_label(volumes: &[f64], exchange_arms: &[String], arms: usize) -> String {
    let mut label = "Plasma exchange".to_string();
    if volumes.len() == 1 {
        label.push_str(&format!(" ({} mL)", trim_decimals(volumes[0], 2)));
    }
    if exchange_arms.len() < arms {
        label.push_str(&format!(": {}", exchange_arms.join(", ")));
    }
    label
}

/// The title, y-axis title and empty-plot note of a chart of cell doses.
fn cell_words(
    trial: &Trial,
    products: &[String],
    weight_kg: f64,
    per_kg: bool,
) -> (String, String, String) {
    let product = if products.is_empty() {
        "cell".to_string()
    } else {
        products.join(" + ")
    };
    let per = if per_kg { " per kg" } else { "" };
    let title = format!(
        "{}: cumulative {product} dose{per}, {}",
        trial.id,
        kg(weight_kg)
    );
    let y_desc = if per_kg {
        "Cumulative dose (cells/kg)"
    } else {
        "Cumulative dose (cells)"
    };
    (
        title,
        y_desc.to_string(),
        "No cell doses in the arms shown".to_string(),
    )
}

/// The subtitle: the trial's title (after the weight fixed doses were divided by, when
/// `fixed`), and the assumed values the curves are drawn from.
fn subtitle(trial: &Trial, arms: &[&Arm], weight_kg: f64, fixed: bool) -> String {
    let mut subtitle = if fixed {
        format!(
            "Fixed doses divided by the {} body weight. {}",
            kg(weight_kg),
            trial.title
        )
    } else {
        trial.title.clone()
    };
    let note = super::assumed_note(arms.iter().map(|a| (*a, a.id.clone())));
    if !note.is_empty() {
        subtitle = format!("{subtitle}\n{note}");
    }
    subtitle
}

impl Chart for Cumulative {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        self.0.draw(root)
    }
}

/// Pixels between the y axis and study day 1, so that the first doses' markers and their
/// rise clear the axis and its labels.
const DAY1_PX: f64 = 14.0;

/// Where a day axis of `axis_px` pixels ending at `x_max` starts so that study day 1 is
/// `px` pixels from its start: `(1 - x0) * axis_px / (x_max - x0) = px`, or 0 when day 1 is
/// that far already.
pub(super) fn left_pad(x_max: f64, axis_px: f64, px: f64) -> f64 {
    ((axis_px - px * x_max) / (axis_px - px)).min(0.0)
}

/// Where the y axis puts a value: itself, or its log10 clamped to the floor.
fn y_of(v: f64, log_floor: Option<f64>) -> f64 {
    match log_floor {
        Some(f) => v.max(f).log10(),
        None => v,
    }
}

impl Chart for StepChart {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let body = header(root, &self.title, &self.subtitle)?;

        let mut items: Vec<LegendItem> = self
            .curves
            .iter()
            .map(|c| LegendItem {
                swatch: Swatch::Series(c.color, c.marker, c.shift > 0),
                label: c.label.clone(),
                remark: c.remark.clone(),
            })
            .collect();
        if !self.exchanges.is_empty() {
            items.push(LegendItem::new(
                Swatch::Band(EXCHANGE_BAND.mix(0.6)),
                self.exchange_label.clone(),
            ));
        }
        if !self.visits.is_empty() {
            items.push(LegendItem::new(Swatch::Visit, "Visit"));
        }
        items.extend(self.state_legend());
        let (body_w, body_h) = body.dim_in_pixel();
        let legend_w = legend_width(&items, body_w as i32 * 2 / 5)?;
        let (plot, legend) = body.split_horizontally(body_w as i32 - legend_w);

        // The y range, its ticks and their labels.
        let y_max = self
            .curves
            .iter()
            .flat_map(|c| c.corners.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        let (y_lo, y_hi, y_bold, y_light) = match self.log_floor {
            Some(floor) => {
                let lo = floor.log10().floor();
                let hi = y_max.max(floor * 10.0).log10().ceil();
                let bold: Vec<f64> = (lo as i32..=hi as i32).map(f64::from).collect();
                let light: Vec<f64> = (lo as i32..hi as i32)
                    .flat_map(|e| (2..10).map(move |k| f64::from(e) + f64::from(k).log10()))
                    .collect();
                (lo, hi, bold, light)
            }
            None => {
                let (ticks, top) = if y_max > 0.0 {
                    linear_ticks(y_max, 6)
                } else {
                    (vec![0.0], 1.0)
                };
                (0.0, top, ticks, Vec::new())
            }
        };
        let log = self.log_floor.is_some();
        let y_label = |v: &f64| {
            if log {
                pow10_label(v.round() as i32)
            } else if self.y_plain {
                trim_decimals(*v, 2)
            } else {
                sci_label(*v)
            }
        };
        let tick_style = text(TICK_PX, INK);
        let mut widest = 0;
        for v in &y_bold {
            widest = widest.max(text_width(root, &y_label(v), &tick_style)?);
        }

        let dates = self.dates_from;
        let (margin_left, margin_right) = (10, 16);
        let y_area = widest + AXIS_DESC_PX as i32 + 26;
        let axis_px = plot.dim_in_pixel().0 as i32 - y_area - margin_left - margin_right;
        let label_px = f64::from(text_width(
            root,
            &day_label(self.x_max, dates),
            &tick_style,
        )?);
        let axis_w = f64::from(axis_px.max(1));
        let x0 = left_pad(self.x_max, axis_w, DAY1_PX);
        let x_ticks = match dates {
            Some(start) => date_ticks(start, (x0, self.x_max), axis_w, label_px),
            None => day_ticks((x0, self.x_max), axis_w, label_px),
        };
        let mut chart = ChartBuilder::on(&plot)
            .margin_top(10)
            .margin_left(margin_left)
            .margin_right(margin_right)
            .margin_bottom(6)
            .x_label_area_size(TICK_PX as i32 + AXIS_DESC_PX as i32 + 20)
            .y_label_area_size(y_area)
            .build_cartesian_2d(
                Ticked::new(x0..self.x_max, x_ticks, Vec::new()),
                Ticked::new(y_lo..y_hi, y_bold, y_light),
            )?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc.as_str())
            .y_desc(self.y_desc.as_str())
            .x_label_formatter(&|d| day_label(*d, dates))
            .y_label_formatter(&y_label)
            .label_style(tick_style.clone())
            .axis_desc_style(text(AXIS_DESC_PX, INK))
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .axis_style(MUTED)
            .draw()?;

        let (px_x, px_y) = chart.plotting_area().get_pixel_range();
        let days_per_px = self.x_max / f64::from((px_x.end - px_x.start).max(1));
        // A day-wide band, but never thinner than a few pixels on long axes.
        let half = (0.5f64).max(2.5 * days_per_px);
        for (from, to) in bands(&self.exchanges, half) {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(from, y_lo), (to, y_hi)],
                EXCHANGE_BAND.mix(0.6).filled(),
            )))?;
        }

        self.draw_visits(root, &chart.plotting_area().get_pixel_range(), |d| {
            chart.backend_coord(&(d, y_lo)).0
        })?;

        // A shifted curve is drawn off its values by whole pixels, within the plot.
        let at = |c: &Curve, (x, y): (f64, f64)| {
            let (px, py) = chart.backend_coord(&(x, y_of(y, self.log_floor)));
            let d = c.shift * SHIFT_PX;
            (
                (px + d).clamp(px_x.start, px_x.end),
                (py - d).clamp(px_y.start, px_y.end),
            )
        };
        self.draw_curves(root, &at)?;
        if !self.later_visits.is_empty() {
            let style = anchored(text(NOTE_PX, MUTED), HPos::Right, VPos::Bottom);
            let note = Measure::new(&style)?.fit(
                &format!("Later: {} \u{2192}", self.later_visits.join(", ")),
                px_x.end - px_x.start - 16,
            );
            let w = text_width(root, &note, &style)?;
            let (x1, y1) = (px_x.end - 6, px_y.end - 8);
            root.draw(&Rectangle::new(
                [(x1 - w - 4, y1 - NOTE_PX as i32 - 4), (x1 + 3, y1 + 2)],
                WHITE.mix(0.85).filled(),
            ))?;
            root.draw(&Text::new(note, (x1, y1), style))?;
        }
        if y_max <= 0.0 {
            let mid = ((px_x.start + px_x.end) / 2, (px_y.start + px_y.end) / 2);
            root.draw(&Text::new(
                self.empty_note.clone(),
                mid,
                anchored(text(LEGEND_PX, MUTED), HPos::Center, VPos::Center),
            ))?;
        }

        let (lx, ly) = legend.get_base_pixel();
        legend_column(
            root,
            &items,
            (lx, ly + 12),
            (legend_w - 4, body_h as i32 - 12 - 6),
            self.legend_noun,
        )?;
        Ok(())
    }
}

/// The exchange bands `[day - half, day + half]` of `days`, in day order, with bands that
/// overlap merged into one: a daily exchange over years is one band, not thousands.
fn bands(days: &[f64], half: f64) -> Vec<(f64, f64)> {
    let mut days = days.to_vec();
    days.sort_by(f64::total_cmp);
    let mut out: Vec<(f64, f64)> = Vec::new();
    for d in days {
        match out.last_mut() {
            Some(last) if d - half <= last.1 => last.1 = last.1.max(d + half),
            _ => out.push((d - half, d + half)),
        }
    }
    out
}

/// A path through pixels without its repeated points and without the middle points of
/// straight horizontal or vertical runs: the same line, in as many points as it has
/// corners (a step curve of thousands of doses has at most two corners per pixel column).
fn simplify(pts: impl IntoIterator<Item = (i32, i32)>) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::new();
    for p in pts {
        if out.last() == Some(&p) {
            continue;
        }
        if let [.., a, b] = out.as_slice() {
            let along_x = a.1 == b.1 && b.1 == p.1 && (a.0 <= b.0) == (b.0 <= p.0);
            let along_y = a.0 == b.0 && b.0 == p.0 && (a.1 <= b.1) == (b.1 <= p.1);
            if along_x || along_y {
                out.pop();
            }
        }
        out.push(p);
    }
    out
}

/// Markers drawn on one chart at most: above that, each curve's markers are spaced wider.
const MARKER_BUDGET: usize = 2_000;

/// The least distance in pixels (in x or in y) between two markers of one curve: 3, so
/// that markers piled on one spot are drawn once, or wider when the chart would otherwise
/// draw more than [`MARKER_BUDGET`] markers. The curve itself shows every dose.
fn marker_spacing(curves: &[Vec<(i32, i32)>]) -> i32 {
    let mut spacing = 3;
    while spacing < 256
        && curves
            .iter()
            .map(|pts| thin(pts, spacing).count())
            .sum::<usize>()
            > MARKER_BUDGET
    {
        spacing *= 2;
    }
    spacing
}

/// The points of `pts` to mark, in order: each at least `spacing` pixels (in x or in y)
/// from the last one kept.
fn thin(pts: &[(i32, i32)], spacing: i32) -> impl Iterator<Item = (i32, i32)> + '_ {
    let mut last: Option<(i32, i32)> = None;
    pts.iter().copied().filter(move |p| {
        let far = last.is_none_or(|l| (p.0 - l.0).abs() >= spacing || (p.1 - l.1).abs() >= spacing);
        if far {
            last = Some(*p);
        }
        far
    })
}

impl StepChart {
    /// The curves, later ones first so that the first arm ends on top, then their
    /// markers: filled for doses given or to come, hollow for overdue ones, ringed where
    /// moved. `at` places a curve's point in pixels.
    fn draw_curves<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        at: &impl Fn(&Curve, (f64, f64)) -> (i32, i32),
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        for c in self.curves.iter().rev() {
            // What was given is solid; the overdue and re-projected rest is dashed.
            let solid = c.given.as_ref().unwrap_or(&c.corners);
            let given = split_projected(solid, c.projected_after).0;
            let projected = split_projected(&c.corners, c.dashed_from()).1;
            let pts = simplify(given.iter().map(|&p| at(c, p)));
            if c.shift == 0 {
                root.draw(&PathElement::new(pts, c.color.stroke_width(2)))?;
            } else {
                dashed_path(root, &pts, c.color.stroke_width(2))?;
            }
            if !projected.is_empty() {
                let pts = simplify(projected.iter().map(|&p| at(c, p)));
                dashed_path(root, &pts, c.color.stroke_width(2))?;
            }
        }
        let marks: Vec<Vec<(i32, i32)>> = self
            .curves
            .iter()
            .map(|c| c.marks.iter().map(|&p| at(c, p)).collect())
            .collect();
        let spacing = marker_spacing(&marks);
        for (c, pts) in self.curves.iter().zip(&marks).rev() {
            for p in thin(pts, spacing) {
                marker(root, p, c.marker, 5, c.color.mix(0.9), c.color)?;
            }
            // Not given: the marker's outline alone.
            for &p in &c.hollow {
                marker(root, at(c, p), c.marker, 5, WHITE.to_rgba(), c.color)?;
            }
            for &p in &c.moved {
                moved_ring(root, at(c, p))?;
            }
        }
        Ok(())
    }

    /// The legend's entries for the marks of what became of a dose: overdue (hollow) and
    /// moved off a closed day (ringed), each when some curve has one.
    fn state_legend(&self) -> Vec<LegendItem> {
        let mut items = Vec::new();
        if let Some(c) = self.curves.iter().find(|c| !c.hollow.is_empty()) {
            items.push(LegendItem {
                swatch: Swatch::Marker(c.marker, WHITE.to_rgba(), c.color),
                label: "Overdue: not recorded as given".to_string(),
                remark: Some("hollow, on the dashed line; not in the solid total".to_string()),
            });
        }
        if self.curves.iter().any(|c| !c.moved.is_empty()) {
            items.push(LegendItem::new(Swatch::Ring, "Moved off a closed day"));
        }
        items
    }

    /// Dashed lines at the visits, each with a triangle and its name at the top of the
    /// plot. Names that would collide drop a line; a name too long for any line is
    /// shortened.
    fn draw_visits<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        (px_x, px_y): &(std::ops::Range<i32>, std::ops::Range<i32>),
        x_px: impl Fn(f64) -> i32,
    ) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let style = text(NOTE_PX, MUTED);
        let line_h = NOTE_PX as i32 + 3;
        let marks: Vec<(i32, &str)> = self
            .visits
            .iter()
            .map(|(day, name)| (x_px(*day), name.as_str()))
            .collect();
        for &(x, _) in &marks {
            dashed_vline(root, x, px_y.start, px_y.end, VISIT_LINE)?;
            visit_mark(root, (x, px_y.start + 9), 5, VISIT_LINE)?;
        }
        let labels = place_labels(root, &marks, &style, (px_x.start, px_x.end), 3)?;
        for l in labels {
            let h = if l.right { HPos::Left } else { HPos::Right };
            root.draw(&Text::new(
                l.text,
                (l.x, px_y.start + 4 + l.row * line_h),
                anchored(style.clone(), h, VPos::Top),
            ))?;
        }
        Ok(())
    }
}
