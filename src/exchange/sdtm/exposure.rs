//! The exposure: EX (the cell doses recorded as given), EC (every planned infusion as
//! SCHEDULED, and what the record says of it as PERFORMED), PR (the plasma exchanges
//! recorded as given, and those recorded as missed as not done), and SUPPEX, SUPPEC, SUPPPR for what SDTM has no variable for: the
//! assumed values a row rests on, the dose per kg and the weight it was computed at.

use chrono::{Duration, NaiveDate, NaiveDateTime};

use super::dataset::{Column, Dataset, Value, int, key, num, text};
use super::{VisitPlan, epoch, frequency, route, study_day, t, usubjid};
use crate::exchange::{Export, Subject, is_infusion};
use crate::format::trim_decimals;
use crate::model::{Assumed, Component, Unit};
use crate::recorded::{Code, Status};
use crate::schedule::{Event, EventKind, Origin};

macro_rules! interventions {
    ($d:literal, $trt:literal, $what:literal, $($extra:expr),* $(,)?) => {
        &[
            key(text("STUDYID", "Study Identifier"), 1),
            text("DOMAIN", "Domain Abbreviation"),
            key(text("USUBJID", "Unique Subject Identifier"), 2),
            key(int(concat!($d, "SEQ"), "Sequence Number"), 4),
            text(concat!($d, "LNKID"), "Link ID"),
            key(text(concat!($d, "TRT"), $trt), 3),
            $($extra,)*
            int("VISITNUM", "Visit Number"),
            text("VISIT", "Visit Name"),
            text("EPOCH", "Epoch"),
            text(concat!($d, "STDTC"), concat!("Start Date/Time of ", $what)),
            text(concat!($d, "ENDTC"), concat!("End Date/Time of ", $what)),
            int(concat!($d, "STDY"), concat!("Study Day of Start of ", $what)),
            int(concat!($d, "ENDY"), concat!("Study Day of End of ", $what)),
        ]
    };
}

const EX: &[Column] = interventions!(
    "EX",
    "Name of Treatment",
    "Treatment",
    num("EXDOSE", "Dose"),
    text("EXDOSU", "Dose Units"),
    text("EXDOSFRM", "Dose Form"),
    text("EXDOSFRQ", "Dosing Frequency per Interval"),
    text("EXROUTE", "Route of Administration"),
    text("EXLOT", "Lot Number"),
    text("EXADJ", "Reason for Dose Adjustment"),
);

const EC: &[Column] = interventions!(
    "EC",
    "Name of Treatment",
    "Treatment",
    text("ECMOOD", "Mood"),
    text("ECPRESP", "Pre-Specified"),
    text("ECOCCUR", "Occurrence"),
    text("ECREASOC", "Reason for Occur Value"),
    num("ECDOSE", "Dose"),
    text("ECDOSU", "Dose Units"),
    text("ECDOSFRM", "Dose Form"),
    text("ECDOSFRQ", "Dosing Frequency per Interval"),
    text("ECROUTE", "Route of Administration"),
    text("ECLOT", "Lot Number"),
    text("ECADJ", "Reason for Dose Adjustment"),
);

const PR: &[Column] = interventions!(
    "PR",
    "Reported Name of Procedure",
    "Procedure",
    text("PRPRESP", "Pre-specified"),
    text("PROCCUR", "Occurrence"),
    num("PRDOSE", "Dose"),
    text("PRDOSU", "Dose Units"),
    text("PRDOSFRQ", "Dosing Frequency per Interval"),
);

const SUPP: &[Column] = &[
    key(text("STUDYID", "Study Identifier"), 1),
    text("RDOMAIN", "Related Domain Abbreviation"),
    key(text("USUBJID", "Unique Subject Identifier"), 2),
    key(text("IDVAR", "Identifying Variable"), 3),
    key(text("IDVARVAL", "Identifying Variable Value"), 4),
    key(text("QNAM", "Qualifier Variable Name"), 5),
    text("QLABEL", "Qualifier Variable Label"),
    text("QVAL", "Data Value"),
    text("QORIG", "Origin"),
    text("QEVAL", "Evaluator"),
];

/// The procedure's name (PRTRT). An infusion's EXTRT/ECTRT is its product's name as the
/// scenario gives it.
pub const PLASMA_EXCHANGE: &str = "PLASMA EXCHANGE";
/// EXDOSFRM/ECDOSFRM: a cell product is a suspension for infusion into a vein.
pub const DOSE_FORM: &str = "INJECTION, SUSPENSION";
/// EXDOSU/ECDOSU of a dose counted in cells (UNIT C187669).
pub const CELLS: &str = "Therapeutic Cells";

/// EX, EC, PR and their supplemental qualifiers.
pub fn datasets(export: &Export, plan: &VisitPlan) -> anyhow::Result<Vec<Dataset>> {
    let mut out = Out {
        ex: Dataset::new("EX", "Exposure", EX),
        ec: Dataset::new("EC", "Exposure as Collected", EC),
        pr: Dataset::new("PR", "Procedures", PR),
        suppex: Dataset::new("SUPPEX", "Supplemental Qualifiers for EX", SUPP),
        suppec: Dataset::new("SUPPEC", "Supplemental Qualifiers for EC", SUPP),
        supppr: Dataset::new("SUPPPR", "Supplemental Qualifiers for PR", SUPP),
    };
    for s in &export.subjects {
        Patient::new(export, plan, s).write(&mut out)?;
    }
    Ok(vec![
        out.ex, out.ec, out.pr, out.suppex, out.suppec, out.supppr,
    ])
}

struct Out {
    ex: Dataset,
    ec: Dataset,
    pr: Dataset,
    suppex: Dataset,
    suppec: Dataset,
    supppr: Dataset,
}

/// One patient's rows being written, with their sequence numbers.
struct Patient<'a> {
    export: &'a Export<'a>,
    plan: &'a VisitPlan,
    s: &'a Subject<'a>,
    usubjid: String,
    seq: [i64; 3],
}

/// The common head and tail of an interventions row.
struct Common {
    lnkid: String,
    trt: String,
    epoch: &'static str,
    visit: Option<(u32, String)>,
    start: String,
    end: String,
    days: (i64, i64),
}

impl<'a> Patient<'a> {
    fn new(export: &'a Export, plan: &'a VisitPlan, s: &'a Subject) -> Self {
        Patient {
            export,
            plan,
            s,
            usubjid: usubjid(export.trial, s),
            seq: [0; 3],
        }
    }

    fn write(&mut self, out: &mut Out) -> anyhow::Result<()> {
        for (i, e) in self.s.events.iter().enumerate() {
            let Origin::Component(c) = e.origin else {
                continue;
            };
            let comp = &self.s.arm.components[c];
            match e.kind {
                EventKind::CellInfusion => {
                    self.scheduled(out, comp, e)?;
                    self.performed(out, comp, e, i)?;
                    if e.status == Status::Given {
                        self.exposure(out, comp, e, i)?;
                    }
                }
                EventKind::PlasmaExchange if matches!(e.status, Status::Given | Status::Missed) => {
                    self.procedure(out, comp, e, i);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn common(&self, comp: &Component, e: &Event, date: NaiveDate, i: Option<usize>) -> Common {
        let time = i
            .and_then(|i| self.s.recorded[i].as_ref())
            .and_then(|g| g.time);
        let at = time.map(|t| date.and_time(t));
        let minutes = comp.duration_min.as_ref().map(|d| i64::from(d.value));
        let end = match (at, minutes) {
            (Some(at), Some(m)) => Some(at + Duration::minutes(m)),
            _ => None,
        };
        let dtc = |x: Option<NaiveDateTime>, d: NaiveDate| {
            x.map_or_else(|| d.to_string(), |x| x.format("%Y-%m-%dT%H:%M").to_string())
        };
        let end_date = end.map_or(date, |x| x.date());
        let start = self.s.patient.start;
        let product = &self.export.trial.products[comp.product];
        Common {
            lnkid: format!("{}-{}", comp.id, e.occurrence),
            trt: if is_infusion(e) {
                product.name.clone()
            } else {
                PLASMA_EXCHANGE.to_string()
            },
            epoch: epoch(self.s, date),
            visit: self
                .plan
                .of_event(self.s.arm, e)
                .map(|v| (v.num, v.name.clone())),
            start: dtc(at, date),
            end: dtc(end.or(at), end_date),
            days: (study_day(start, date), study_day(start, end_date)),
        }
    }

    /// Builds a row: the head, `middle`, then the tail.
    fn row(&self, domain: &str, seq: i64, c: Common, middle: Vec<Value>) -> Vec<Value> {
        let (visitnum, visit) = c.visit.map_or((Value::Null, Value::Null), |(n, v)| {
            (Value::Int(i64::from(n)), t(v))
        });
        let mut row = vec![
            t(&self.export.trial.id),
            t(domain),
            t(&self.usubjid),
            Value::Int(seq),
            t(c.lnkid),
            t(c.trt),
        ];
        row.extend(middle);
        row.extend([
            visitnum,
            visit,
            t(c.epoch),
            t(c.start),
            t(c.end),
            Value::Int(c.days.0),
            Value::Int(c.days.1),
        ]);
        row
    }

    fn next(&mut self, k: usize) -> i64 {
        self.seq[k] += 1;
        self.seq[k]
    }

    fn unit(&self, comp: &Component) -> &'static str {
        match self.export.trial.products[comp.product].unit {
            Unit::Cells => CELLS,
            Unit::Ml => "mL",
        }
    }

    fn route(comp: &Component) -> anyhow::Result<Value> {
        Ok(match &comp.route {
            Some(r) => t(route(&r.value)?),
            None => Value::Null,
        })
    }

    /// EX: a dose recorded as given.
    fn exposure(
        &mut self,
        out: &mut Out,
        comp: &Component,
        e: &Event,
        i: usize,
    ) -> anyhow::Result<()> {
        let seq = self.next(0);
        let given = self.s.recorded[i].as_ref();
        let middle = vec![
            e.dose.map_or(Value::Null, Value::Num),
            t(self.unit(comp)),
            t(DOSE_FORM),
            t(frequency(&comp.timing.rule)),
            Self::route(comp)?,
            t(given.and_then(|g| g.lot.clone()).unwrap_or_default()),
            t(adjustment(self.s, e, given.and_then(|g| g.note.as_deref()))),
        ];
        let c = self.common(comp, e, e.date, Some(i));
        let row = self.row("EX", seq, c, middle);
        out.ex.push(row);
        let per_kg = e.dose.zip(e.dose_per_kg).map(|(dose, _)| {
            let kg = self.weight(e);
            (trim_decimals(dose / kg.f64(), 2), kg)
        });
        self.qualifiers(
            &mut out.suppex,
            "EX",
            "EXSEQ",
            seq,
            e,
            per_kg,
            "Dose Given (Therapeutic Cells/kg)",
        );
        Ok(())
    }

    fn weight(&self, e: &Event) -> crate::model::Kg {
        e.weight.unwrap_or(self.s.patient.weight_kg)
    }

    /// SUPPxx rows of one parent row: what it assumes, its dose per kg and the weight.
    #[allow(clippy::too_many_arguments)]
    fn qualifiers(
        &self,
        d: &mut Dataset,
        domain: &str,
        idvar: &str,
        seq: i64,
        e: &Event,
        per_kg: Option<(String, crate::model::Kg)>,
        per_kg_label: &str,
    ) {
        let assumed = Assumed::without_earlier(e.assumed);
        let mut q: Vec<(&str, &str, String, &str)> = Vec::new();
        if !assumed.is_empty() {
            q.push((
                "ASSUMED",
                "Assumed Values (not in Registry Record)",
                assumed.to_string(),
                "Assigned",
            ));
        }
        if let Some((pkg, kg)) = per_kg {
            // A planned dose per kg is the protocol's, unless the dose is assumed (not in
            // the registry record): then it is ours, "Assigned"; a given dose's is derived.
            let origin = match domain {
                "EC" if e.assumed.contains(Assumed::DOSE) => "Assigned",
                "EC" => "Protocol",
                _ => "Derived",
            };
            q.push(("DOSEPKG", per_kg_label, pkg, origin));
            q.push((
                "DOSEWT",
                "Body Weight Dosed For (kg)",
                kg.to_string(),
                "Derived",
            ));
        }
        for (qnam, qlabel, qval, qorig) in q {
            self.qualifier(d, domain, idvar, seq, (qnam, qlabel, qval, qorig));
        }
    }

    /// One SUPPxx row: (QNAM, QLABEL, QVAL, QORIG) of the parent row `idvar` = `seq`.
    fn qualifier(
        &self,
        d: &mut Dataset,
        domain: &str,
        idvar: &str,
        seq: i64,
        (qnam, qlabel, qval, qorig): (&str, &str, String, &str),
    ) {
        d.push(vec![
            t(&self.export.trial.id),
            t(domain),
            t(&self.usubjid),
            t(idvar),
            t(seq.to_string()),
            t(qnam),
            t(qlabel),
            t(qval),
            t(qorig),
            Value::Null,
        ]);
    }

    /// EC SCHEDULED: the infusion as the regimen planned it, whatever became of it: its
    /// planned date (pharmacy.csv's planned_date, before a site calendar or the record
    /// moved it) and its planned dose.
    fn scheduled(&mut self, out: &mut Out, comp: &Component, e: &Event) -> anyhow::Result<()> {
        let seq = self.next(1);
        let date = e.planned;
        let planned = e.planned_amount.or(e.dose);
        let middle = vec![
            t("SCHEDULED"),
            Value::Null,
            Value::Null,
            Value::Null,
            planned.map_or(Value::Null, Value::Num),
            t(self.unit(comp)),
            t(DOSE_FORM),
            t(frequency(&comp.timing.rule)),
            Self::route(comp)?,
            Value::Null,
            Value::Null,
        ];
        let c = self.common(comp, e, date, None);
        let row = self.row("EC", seq, c, middle);
        out.ec.push(row);
        let per_kg = e.dose_per_kg.map(|p| (trim_decimals(p, 2), self.weight(e)));
        self.qualifiers(
            &mut out.suppec,
            "EC",
            "ECSEQ",
            seq,
            e,
            per_kg,
            "Planned Dose (Therapeutic Cells/kg)",
        );
        Ok(())
    }

    /// EC PERFORMED: what the record says of the infusion (given, or missed).
    fn performed(
        &mut self,
        out: &mut Out,
        comp: &Component,
        e: &Event,
        i: usize,
    ) -> anyhow::Result<()> {
        let (occur, reason, dose) = match e.status {
            Status::Given => ("Y", Value::Null, e.dose.map_or(Value::Null, Value::Num)),
            Status::Missed => ("N", t(self.missed_note(i).unwrap_or_default()), Value::Null),
            _ => return Ok(()),
        };
        let seq = self.next(1);
        let given = self.s.recorded[i].as_ref();
        let adj = if e.status == Status::Given {
            t(adjustment(self.s, e, given.and_then(|g| g.note.as_deref())))
        } else {
            Value::Null
        };
        let unit = if dose == Value::Null {
            Value::Null
        } else {
            t(self.unit(comp))
        };
        let middle = vec![
            t("PERFORMED"),
            t("Y"),
            t(occur),
            reason,
            dose,
            unit,
            t(DOSE_FORM),
            t(frequency(&comp.timing.rule)),
            Self::route(comp)?,
            t(given.and_then(|g| g.lot.clone()).unwrap_or_default()),
            adj,
        ];
        let c = self.common(comp, e, e.date, Some(i));
        let row = self.row("EC", seq, c, middle);
        out.ec.push(row);
        self.qualifiers(&mut out.suppec, "EC", "ECSEQ", seq, e, None, "");
        Ok(())
    }

    /// The note of the record's missed row for event `i`.
    fn missed_note(&self, i: usize) -> Option<String> {
        self.s.recorded[i].as_ref().and_then(|r| r.note.clone())
    }

    /// PR: a plasma exchange recorded as given (PROCCUR "Y"), or as missed (PROCCUR "N",
    /// its note as SUPPPR's REASOC: SDTMIG 3.4's PR has no PRREASOC).
    fn procedure(&mut self, out: &mut Out, comp: &Component, e: &Event, i: usize) {
        let seq = self.next(2);
        let done = e.status == Status::Given;
        let volume = if done { e.dose.or(e.volume_ml) } else { None };
        let middle = vec![
            t("Y"),
            t(if done { "Y" } else { "N" }),
            volume.map_or(Value::Null, Value::Num),
            if volume.is_some() {
                t("mL")
            } else {
                Value::Null
            },
            t(frequency(&comp.timing.rule)),
        ];
        let c = self.common(comp, e, e.date, Some(i));
        let row = self.row("PR", seq, c, middle);
        out.pr.push(row);
        self.qualifiers(&mut out.supppr, "PR", "PRSEQ", seq, e, None, "");
        if let Some(note) = (!done).then(|| self.missed_note(i)).flatten() {
            self.qualifier(
                &mut out.supppr,
                "PR",
                "PRSEQ",
                seq,
                ("REASOC", "Reason for Occur Value", note, "Collected"),
            );
        }
    }
}

/// A given dose's amount below or above its planned amount, where its deviation says
/// nothing (inside the dose tolerance): "2.8% below the planned dose".
fn within_tolerance(e: &Event) -> Option<String> {
    let (given, planned) = (e.dose?, e.planned_amount?);
    if e.status != Status::Given || given == planned || planned <= 0.0 {
        return None;
    }
    let pct = (given - planned) / planned * 100.0;
    let dir = if pct < 0.0 { "below" } else { "above" };
    Some(format!(
        "{}% {dir} the planned dose",
        trim_decimals(pct.abs(), 1)
    ))
}

/// EXADJ/ECADJ: why the dose given differs from the protocol's, from its deviation: below
/// or above the plan (outside the dose tolerance or inside it), or recomputed for a weight
/// recorded during treatment.
pub fn adjustment(s: &Subject, e: &Event, note: Option<&str>) -> String {
    let d = &e.deviation;
    let mut why = Vec::new();
    if d.has(Code::DOSE_LOW) || d.has(Code::DOSE_HIGH) {
        let dir = if d.has(Code::DOSE_LOW) {
            "below"
        } else {
            "above"
        };
        let mut w = format!(
            "{}% {dir} the planned dose",
            trim_decimals(d.dose_pct.abs(), 1)
        );
        if let Some(n) = note {
            w.push_str(": ");
            w.push_str(n);
        }
        why.push(w);
    } else if let Some(w) = within_tolerance(e) {
        why.push(match note {
            Some(n) => format!("{w}: {n}"),
            None => w,
        });
    }
    if d.has(Code::WEIGHT_CHANGE) {
        let kg = e.weight.unwrap_or(s.patient.weight_kg);
        why.push(format!(
            "dose recomputed for a body weight of {kg} kg ({}{}% from enrolment)",
            if d.weight_pct >= 0.0 { "+" } else { "-" },
            trim_decimals(d.weight_pct.abs(), 1)
        ));
    }
    why.join("; ")
}
