//! The cell-processing lab's daily preparation list: per scheduled date, site and product, how many doses,
//! their total (cells or mL), the total volume where a concentration is known, and which
//! patients. Totals are sums of the same doses the calendars show.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::NaiveDate;

use super::columns::{Col, col, write_csv};
use crate::format::{Amount, inert, trim_decimals};
use crate::model::{Arm, Assumed, Product, Trial};
use crate::moves::Flags;
use crate::schedule::{Event, Patient};
use crate::timing::weekday_abbrev;

/// One line of the preparation list.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepLine {
    /// The date the doses are scheduled on (after any site-calendar move).
    pub date: NaiveDate,
    /// The patients' site ("" for patients without one).
    pub site: String,
    /// Index into the trial's products.
    pub product: usize,
    pub doses: u32,
    pub total: f64,
    /// `None` when any dose of the day has no known volume.
    pub volume_ml: Option<f64>,
    pub patients: Vec<String>,
    /// Which values behind these doses are assumed rather than stated by the record.
    pub assumed: Assumed,
    /// Every site-calendar flag of the day's doses (`shifted`, `closed_day`, ...).
    pub flags: Flags,
}

/// Adds up the dosing events of many patients by (date, product).
#[derive(Debug, Default)]
pub struct Prep {
    lines: BTreeMap<(NaiveDate, String, usize), PrepLine>,
}

impl Prep {
    pub fn add(&mut self, arm: &Arm, patient: &Patient, events: &[Event]) {
        for e in events {
            let (Some(dose), Some(product)) = (e.dose, e.product(arm)) else {
                continue;
            };
            // Held for a decision: not to be prepared (the sheet lists it apart).
            if e.status == crate::record::Status::Held {
                continue;
            }
            let site = patient.site.clone().unwrap_or_default();
            let line = self
                .lines
                .entry((e.date, site, product))
                .or_insert_with_key(|k| PrepLine {
                    date: e.date,
                    site: k.1.clone(),
                    product,
                    flags: Flags::NONE,
                    doses: 0,
                    total: 0.0,
                    volume_ml: Some(0.0),
                    patients: Vec::new(),
                    assumed: Default::default(),
                });
            // A day's total is of that day's doses: an earlier dose in a running total
            // is not in it.
            line.assumed |= Assumed::without_earlier(e.assumed);
            line.flags |= e.flags;
            line.doses += 1;
            line.total += dose;
            line.volume_ml = line.volume_ml.zip(e.volume_ml).map(|(a, b)| a + b);
            if line.patients.last() != Some(&patient.id) {
                line.patients.push(patient.id.clone());
            }
        }
    }

    pub fn lines(&self) -> impl Iterator<Item = &PrepLine> {
        self.lines.values()
    }

    /// Writes prep.csv: the header of [`columns`] and a row per line.
    pub fn write_csv(&self, trial: &Trial, out: impl Write) -> csv::Result<()> {
        let rows = self.lines().map(|line| PrepRow {
            line,
            product: &trial.products[line.product],
        });
        write_csv(out, &columns(), rows)
    }
}

/// A line of prep.csv: the line and its product.
pub struct PrepRow<'a> {
    pub line: &'a PrepLine,
    pub product: &'a Product,
}

/// prep.csv's columns, each named beside its cell.
pub fn columns<'a>() -> [Col<PrepRow<'a>>; 11] {
    [
        col("date", |r| r.line.date.to_string()),
        col("weekday", |r| weekday_abbrev(r.line.date).to_string()),
        col("site", |r| inert(&r.line.site).into_owned()),
        col("product", |r| inert(&r.product.id).into_owned()),
        col("doses", |r| r.line.doses.to_string()),
        col("total_dose", |r| {
            Amount {
                value: r.line.total,
                unit: r.product.unit,
            }
            .plain()
        }),
        col("dose_unit", |r| r.product.unit.as_str().to_string()),
        col("total_volume_ml", |r| {
            r.line
                .volume_ml
                .map(|v| trim_decimals(v, 2))
                .unwrap_or_default()
        }),
        col("patient_ids", |r| {
            let mut ids = r.line.patients.clone();
            ids.sort();
            inert(&ids.join(" ")).into_owned()
        }),
        col("assumed", |r| r.line.assumed.to_string()),
        col("flags", |r| r.line.flags.codes()),
    ]
}
