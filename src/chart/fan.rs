//! The forecast's fan chart: a product's amount (cells or mL) needed each week over the
//! horizon at all sites, as the median line inside its P25-P75 and P5-P95 bands, with the
//! plan's weekly capacity as a dashed line and, when the forecast starts from a roster,
//! that roster's demand as planned (with a record: as recorded, then as planned). Every
//! figure drawn is one of weekly.csv's columns; the title says when the figures rest on
//! an assumed regimen value.

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::parts::*;
use super::{Chart, ChartError};
use crate::forecast::Forecast;

pub(super) struct Fan {
    title: String,
    subtitle: String,
    /// The y axis's title, with the unit.
    y_desc: String,
    /// The legend's name for the roster's line.
    observed_label: &'static str,
    /// Week starts, for the x labels.
    weeks: Vec<chrono::NaiveDate>,
    p5: Vec<f64>,
    p25: Vec<f64>,
    p50: Vec<f64>,
    p75: Vec<f64>,
    p95: Vec<f64>,
    capacity: Option<f64>,
    observed: Option<Vec<f64>>,
}

impl Fan {
    /// The chart of the forecast's `k`-th product.
    pub fn new(f: &Forecast, k: usize) -> Result<Self, ChartError> {
        let m = &f.model;
        let product = m.products[k];
        let rows: Vec<_> = f
            .summary
            .weekly
            .iter()
            .filter(|r| r.product == product && r.site.is_none())
            .collect();
        let col = |name: &str| rows.iter().map(|r| r.amount.p(name)).collect::<Vec<f64>>();
        let observed = m
            .observed
            .as_ref()
            .map(|o| o[k * m.weeks..(k + 1) * m.weeks].to_vec());
        let p = &m.trial.products[product];
        let unit = p.unit.as_str();
        let assumed = m.assumed_of(None, k);
        let mut title = format!("{}: {} {unit} needed per week (forecast", m.trial.id, p.id);
        if assumed.contains(crate::model::Assumed::DOSE) {
            title.push_str(", assumed dose");
        }
        title.push(')');
        // The assumed values come before the reading notes, so a narrow chart cuts those.
        let mut subtitle = format!("{} replicates (seed {}), all sites", f.replicates, f.seed);
        if let Some(as_of) = m.facts.as_of {
            subtitle.push_str(&format!(", from the record as of {as_of}"));
        }
        if !assumed.is_empty() {
            subtitle.push_str(&format!("; assumed: {assumed}"));
        }
        subtitle.push_str("; median with P25-P75 and P5-P95; weeks start on Monday");
        Ok(Fan {
            title,
            subtitle,
            y_desc: format!("{} per week", if unit == "mL" { "mL" } else { "Cells" }),
            observed_label: if m.facts.as_of.is_some() {
                "roster: recorded, then as planned"
            } else {
                "roster as planned"
            },
            weeks: rows.iter().map(|r| r.start).collect(),
            p5: col("p5"),
            p25: col("p25"),
            p50: col("p50"),
            p75: col("p75"),
            p95: col("p95"),
            capacity: rows.first().and_then(|r| r.capacity_per_week),
            observed,
        })
    }

    fn legend(&self) -> Vec<LegendItem> {
        let mut items = vec![
            LegendItem::new(Swatch::Series(color(0), Marker::Circle, false), "median"),
            LegendItem::new(Swatch::Band(color(0).mix(0.35)), "P25-P75"),
            LegendItem::new(Swatch::Band(color(0).mix(0.15)), "P5-P95"),
        ];
        if self.capacity.is_some() {
            items.push(LegendItem::new(
                Swatch::Series(RED_INK, Marker::Cross, true),
                "capacity per week",
            ));
        }
        if self.observed.is_some() {
            items.push(LegendItem::new(
                Swatch::Series(color(1), Marker::Square, false),
                self.observed_label,
            ));
        }
        items
    }
}

const RED_INK: RGBColor = RGBColor(178, 34, 34);

impl Chart for Fan {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let plot = header_and_legend(root, &self.title, &self.subtitle, &[self.legend()])?;

        let n = self.weeks.len();
        let top = self
            .p95
            .iter()
            .chain(self.observed.iter().flatten())
            .chain(self.capacity.iter())
            .fold(0.0f64, |a, &b| a.max(b));
        let (y_ticks, y_top) = linear_ticks(top, 6);
        let tick_style = text(TICK_PX, INK);
        let label_px = text_width(root, "2027-01-04", &tick_style)?;
        let (plot_w, _) = plot.dim_in_pixel();
        let room = f64::from(label_px) + 30.0;
        let target = ((f64::from(plot_w) / room).floor() as usize).clamp(2, 10);
        let step = nice_step(n as f64, target).max(1.0).round();
        let mut x_ticks = Vec::new();
        let mut k = 0.0;
        while k < n as f64 {
            x_ticks.push(k);
            k += step;
        }
        let week_label = |x: &f64| {
            self.weeks
                .get(x.round() as usize)
                .map_or(String::new(), |d| d.to_string())
        };
        let y_label_w = y_ticks
            .iter()
            .map(|v| text_width(root, &sci_label(*v), &tick_style))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .max()
            .unwrap_or(40);
        let x_max = (n as f64 - 0.5).max(0.5);
        let mut chart = ChartBuilder::on(&plot)
            .margin_top(4)
            .margin_left(10)
            .margin_right(24)
            .margin_bottom(6)
            .x_label_area_size(TICK_PX as i32 + AXIS_DESC_PX as i32 + 20)
            .y_label_area_size(y_label_w + AXIS_DESC_PX as i32 + 24)
            .build_cartesian_2d(
                Ticked::new(-0.5..x_max, x_ticks, Vec::new()),
                Ticked::new(0.0..y_top, y_ticks, Vec::new()),
            )?;
        chart
            .configure_mesh()
            .x_desc("Week starting (Monday)")
            .y_desc(&self.y_desc)
            .x_label_formatter(&week_label)
            .y_label_formatter(&|v| sci_label(*v))
            .label_style(tick_style.clone())
            .axis_desc_style(text(AXIS_DESC_PX, INK))
            .bold_line_style(GRID_BOLD)
            .light_line_style(GRID_LIGHT)
            .axis_style(MUTED)
            .draw()?;
        let band = |lo: &[f64], hi: &[f64]| -> Vec<(f64, f64)> {
            let mut pts: Vec<(f64, f64)> =
                hi.iter().enumerate().map(|(i, &v)| (i as f64, v)).collect();
            pts.extend(lo.iter().enumerate().rev().map(|(i, &v)| (i as f64, v)));
            pts
        };
        chart.draw_series(std::iter::once(Polygon::new(
            band(&self.p5, &self.p95),
            color(0).mix(0.15).filled(),
        )))?;
        chart.draw_series(std::iter::once(Polygon::new(
            band(&self.p25, &self.p75),
            color(0).mix(0.35).filled(),
        )))?;
        let line = |v: &[f64]| -> Vec<(f64, f64)> {
            v.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect()
        };
        chart.draw_series(std::iter::once(PathElement::new(
            line(&self.p50),
            color(0).stroke_width(2),
        )))?;
        if let Some(obs) = &self.observed {
            chart.draw_series(std::iter::once(PathElement::new(
                line(obs),
                color(1).stroke_width(2),
            )))?;
        }
        if let Some(cap) = self.capacity {
            let from = chart.backend_coord(&(-0.5, cap));
            let to = chart.backend_coord(&(x_max, cap));
            dashed_path(root, &[from, to], RED_INK.stroke_width(2))?;
        }
        Ok(())
    }
}
