//! The cell-processing lab's daily preparation list: per scheduled date, site and product, how many doses,
//! their total (cells or mL), the total volume where a concentration is known, and which
//! patients. Totals are sums of the same doses the calendars show.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::NaiveDate;

use crate::format::{Amount, inert, trim_decimals};
use crate::model::{Arm, Assumed, Trial};
use crate::moves::Flags;
use crate::schedule::{Event, Patient};

pub const COLUMNS: [&str; 11] = [
    "date",
    "weekday",
    "site",
    "product",
    "doses",
    "total_dose",
    "dose_unit",
    "total_volume_ml",
    "patient_ids",
    "assumed",
    "flags",
];

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

    pub fn write_csv(&self, trial: &Trial, out: impl Write) -> csv::Result<()> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(COLUMNS)?;
        for l in self.lines() {
            let p = &trial.products[l.product];
            let total = Amount {
                value: l.total,
                unit: p.unit,
            };
            let mut ids = l.patients.clone();
            ids.sort();
            w.write_record([
                l.date.to_string(),
                crate::timing::weekday_abbrev(l.date).to_string(),
                inert(&l.site).into_owned(),
                inert(&p.id).into_owned(),
                l.doses.to_string(),
                total.plain(),
                p.unit.as_str().to_string(),
                l.volume_ml.map(|v| trim_decimals(v, 2)).unwrap_or_default(),
                inert(&ids.join(" ")).into_owned(),
                l.assumed.to_string(),
                l.flags.codes(),
            ])?;
        }
        w.flush()?;
        Ok(())
    }
}
