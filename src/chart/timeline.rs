//! The timeline: one lane per arm of a trial, with its infusions as circles whose area is
//! proportional to the dose, its plasma exchanges as squares and its visits as triangles,
//! over study days. It shows at a glance how the arms' regimens differ in rhythm and size.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::cumulative::{arm_events, is_monthly, left_pad, split_visits, x_end};
use super::parts::*;
use super::{Chart, ChartError};
use crate::model::Trial;

struct Lane {
    id: String,
    doses: Vec<(f64, f64)>,
    exchanges: Vec<f64>,
    visits: Vec<(f64, String)>,
    /// Visits too far after the last dose for the axis, named at the lane's end.
    later: Vec<(f64, String)>,
}

pub(super) struct Timeline {
    title: String,
    subtitle: String,
    x_max: f64,
    /// The day axis's title, and study day 1's date when its ticks are dates.
    x_desc: String,
    dates_from: Option<chrono::NaiveDate>,
    lanes: Vec<Lane>,
    max_dose: f64,
    dose_label: String,
    exchange_label: String,
}

const INFUSION: RGBColor = PALETTE[0];
const EXCHANGE: RGBColor = PALETTE[1];

impl Timeline {
    pub fn new(trial: &Trial, weight_kg: f64) -> Result<Self, ChartError> {
        if trial.arms.is_empty() {
            return Err(ChartError::TrialWithoutArms(trial.id.clone()));
        }
        let mut per_arm = Vec::new();
        let mut last_dosing: f64 = 0.0;
        let mut max_dose: f64 = 0.0;
        let mut volumes: Vec<f64> = Vec::new();
        for arm in &trial.arms {
            let ev = arm_events(trial, arm, weight_kg, super::DEFAULT_START, false, None)?;
            last_dosing = last_dosing.max(ev.last_dosing_day());
            max_dose = ev.doses.iter().map(|d| d.1).fold(max_dose, f64::max);
            for ml in ev.exchanges.iter().filter_map(|e| e.1) {
                if !volumes.contains(&ml) {
                    volumes.push(ml);
                }
            }
            per_arm.push((arm, ev));
        }
        let mut last = last_dosing.max(1.0);
        let mut lanes = Vec::new();
        for (arm, ev) in per_arm {
            let (visits, later) = split_visits(&ev.visits, last_dosing);
            last = visits.iter().map(|v| v.0).fold(last, f64::max);
            lanes.push(Lane {
                id: arm.id.clone(),
                doses: ev.doses,
                exchanges: ev.exchanges.iter().map(|e| e.0).collect(),
                visits,
                later,
            });
        }
        let dose_label = if max_dose > 0.0 {
            format!(
                "Cell infusion, area ~ dose (largest {} cells at {})",
                sci_label(max_dose),
                kg(weight_kg)
            )
        } else {
            "Cell infusion".to_string()
        };
        let exchange_label = match volumes.as_slice() {
            [ml] => format!("Plasma exchange ({} mL)", trim_decimals(*ml, 2)),
            _ => "Plasma exchange".to_string(),
        };
        let (x_desc, dates_from) = day_axis(None, trial.arms.iter().any(is_monthly));
        Ok(Timeline {
            title: format!("{}: dosing timeline by arm", trial.id),
            subtitle: {
                let note = super::assumed_note(trial.arms.iter().map(|a| (a, a.id.clone())));
                let later = later_line(&lanes, dates_from);
                format!("{}\n{later}\n{note}", trial.title)
            },
            x_max: x_end(last),
            x_desc,
            dates_from,
            lanes,
            max_dose,
            dose_label,
            exchange_label,
        })
    }

    /// The radius of the largest dose's circle on lanes `lane_px` high and an axis
    /// `inner_w` wide, and the study day the axis starts at so that day 1's circle clears
    /// the lane names.
    fn circle_size(&self, lane_px: f64, inner_w: f64) -> (f64, f64) {
        // The largest circle fits its lane and, where doses are close, half the gap to the
        // next dose (less a pixel and a half for rounding), so that circles do not overlap.
        let fit_gap = |x0: f64| {
            let gap_px = self.closest_doses() * inner_w / (self.x_max - x0).max(1.0);
            gap_px / 2.0 - 1.5
        };
        let r_lane = (lane_px * 0.28).min(fit_gap(0.0)).clamp(4.0, 18.0);
        // Start the axis early enough that a day-1 circle clears the lane labels. The
        // earlier start narrows the days a little, so the circles are fitted again.
        let x0 = left_pad(self.x_max, inner_w, r_lane + 4.0);
        (r_lane.min(fit_gap(x0)).max(4.0), x0)
    }

    /// The fewest days between two dose days of one lane (infinity when no lane has two).
    fn closest_doses(&self) -> f64 {
        self.lanes
            .iter()
            .flat_map(|l| l.doses.windows(2).map(|w| w[1].0 - w[0].0))
            .filter(|gap| *gap > 0.0)
            .fold(f64::INFINITY, f64::min)
    }

    fn legend(&self, short: bool) -> Vec<LegendItem> {
        let any = |f: fn(&Lane) -> bool| self.lanes.iter().any(f);
        let mut items = Vec::new();
        if any(|l| !l.doses.is_empty()) {
            items.push(LegendItem::new(
                Swatch::Marker(Marker::Circle, INFUSION.mix(0.45), INFUSION),
                if short {
                    "Cell infusion (area ~ dose)"
                } else {
                    self.dose_label.as_str()
                },
            ));
        }
        if any(|l| !l.exchanges.is_empty()) {
            items.push(LegendItem::new(
                Swatch::Marker(Marker::Square, EXCHANGE.mix(0.8), EXCHANGE),
                self.exchange_label.as_str(),
            ));
        }
        if any(|l| !l.visits.is_empty() || !l.later.is_empty()) {
            items.push(LegendItem::new(Swatch::VisitMark, "Visit"));
        }
        items
    }
}

impl Chart for Timeline {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let plot = header_and_legend(
            root,
            &self.title,
            &self.subtitle,
            &[self.legend(false), self.legend(true)],
        )?;

        let n = self.lanes.len();
        let tick_style = text(TICK_PX, INK);
        let (margin_top, margin_bottom, margin_left, margin_right) = (4, 6, 10, 20);
        let x_area = TICK_PX as i32 + AXIS_DESC_PX as i32 + 20;
        let (plot_w, plot_h) = plot.dim_in_pixel();
        let inner_h = f64::from(plot_h as i32 - x_area - margin_top - margin_bottom).max(1.0);
        let lane_px = inner_h / n as f64;
        // Lane names take at most a fifth of the width (ids may be 64 characters long);
        // when lanes are thinner than a line of text, every k-th lane is named.
        let every = (f64::from(TICK_PX as i32 + 4) / lane_px).ceil().max(1.0) as usize;
        let measure = Measure::new(&tick_style)?;
        let ids: Vec<String> = self
            .lanes
            .iter()
            .enumerate()
            .map(|(i, l)| {
                if i % every == 0 {
                    measure.fit(&l.id, plot_w as i32 / 5)
                } else {
                    String::new()
                }
            })
            .collect();
        let widest = ids.iter().map(|id| measure.width(id)).max().unwrap_or(0);
        // Lane i (file order) is drawn top to bottom, so its centre is at n - 1 - i.
        let lane_label = |v: &f64| {
            let i = n as i64 - 1 - v.round() as i64;
            usize::try_from(i)
                .ok()
                .and_then(|i| ids.get(i))
                .map_or(String::new(), |s| s.to_string())
        };
        let centres: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let y_area = widest + 20;
        let inner_w = f64::from(plot_w as i32 - y_area - margin_left - margin_right).max(1.0);
        let (r_max, x0) = self.circle_size(lane_px, inner_w);
        let dates = self.dates_from;
        let label_px = f64::from(text_width(
            root,
            &day_label(self.x_max, dates),
            &tick_style,
        )?);
        let x_ticks = match dates {
            Some(start) => date_ticks(start, (x0, self.x_max), inner_w, label_px),
            None => day_ticks((x0, self.x_max), inner_w, label_px),
        };
        let mut chart = ChartBuilder::on(&plot)
            .margin_top(margin_top)
            .margin_left(margin_left)
            .margin_right(margin_right)
            .margin_bottom(margin_bottom)
            .x_label_area_size(x_area)
            .y_label_area_size(y_area)
            .build_cartesian_2d(
                Ticked::new(x0..self.x_max, x_ticks, Vec::new()),
                Ticked::new(-0.5..n as f64 - 0.5, centres, Vec::new()),
            )?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc.as_str())
            .x_label_formatter(&|d| day_label(*d, dates))
            .y_label_formatter(&lane_label)
            .label_style(tick_style.clone())
            .axis_desc_style(text(AXIS_DESC_PX, INK))
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .axis_style(MUTED)
            .draw()?;

        let (px_x, _) = chart.plotting_area().get_pixel_range();
        let offset = (lane_px * 0.32).round() as i32;
        let note_style = anchored(text(NOTE_PX, MUTED), HPos::Left, VPos::Center);
        for (i, lane) in self.lanes.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let at = |day: f64| chart.backend_coord(&(day, y));
            if lane.doses.is_empty() && lane.exchanges.is_empty() {
                let (x, py) = at(0.0);
                root.draw(&Text::new(
                    "no doses",
                    (x + 8, py - offset / 2 - 2),
                    note_style.clone(),
                ))?;
            }
            let marks: Vec<(i32, &str)> = lane
                .visits
                .iter()
                .map(|(day, name)| (at(*day).0, name.as_str()))
                .collect();
            let tip = at(0.0).1 + offset + 4;
            for &(x, _) in &marks {
                visit_mark(root, (x, tip), 5, VISIT_LINE)?;
            }
            for l in place_labels(root, &marks, &note_style, (px_x.start, px_x.end), 1)? {
                let h = if l.right { HPos::Left } else { HPos::Right };
                root.draw(&Text::new(
                    l.text,
                    (l.x, tip - 5),
                    anchored(note_style.clone(), h, VPos::Center),
                ))?;
            }
            // A mark drawn again on the very same spot adds nothing (a daily dose over
            // years falls on each pixel column many times): each is drawn once.
            let mut drawn = std::collections::HashSet::new();
            for &day in &lane.exchanges {
                let (x, py) = at(day);
                if !drawn.insert((x, py - offset, 0)) {
                    continue;
                }
                marker(
                    root,
                    (x, py - offset),
                    Marker::Square,
                    6,
                    EXCHANGE.mix(0.8),
                    EXCHANGE,
                )?;
            }
            for &(day, dose) in &lane.doses {
                // Area proportional to dose: the radius goes with its square root.
                let r = (r_max * (dose / self.max_dose).sqrt()).max(3.0).round() as i32;
                let (x, py) = at(day);
                if !drawn.insert((x, py, r)) {
                    continue;
                }
                marker(
                    root,
                    (x, py),
                    Marker::Circle,
                    r,
                    INFUSION.mix(0.45),
                    INFUSION,
                )?;
            }
        }
        Ok(())
    }
}

/// The visits left off the day axis, said once under the title: "Visits after the axis:
/// Week 48 study visit on day 337" when every lane has the same, else per lane.
fn later_line(lanes: &[Lane], dates: Option<chrono::NaiveDate>) -> String {
    let words = |later: &[(f64, String)]| {
        later
            .iter()
            .map(|(day, name)| match dates {
                Some(_) => format!("{name} on {}", day_label(*day, dates)),
                None => format!("{name} on day {day}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let with: Vec<&Lane> = lanes.iter().filter(|l| !l.later.is_empty()).collect();
    if with.is_empty() {
        return String::new();
    }
    if with.len() == lanes.len() && with.iter().all(|l| l.later == with[0].later) {
        return format!("Visits after the axis: {}", words(&with[0].later));
    }
    let per_lane: Vec<String> = with
        .iter()
        .map(|l| format!("{}: {}", l.id, words(&l.later)))
        .collect();
    format!("Visits after the axis: {}", per_lane.join("; "))
}
