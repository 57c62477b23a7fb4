//! The NONMEM/nlmixr2 event table of a cohort (`dosesim export nonmem`): one CSV per
//! trial, a row per event of each patient's calendar but the missed and cancelled ones,
//! with the files that say what it holds.
//!
//! - `<TRIAL>.csv`: the event table ([`COLUMNS`]): doses of a cell product are `EVID` 1
//!   rows (the amount given when the record says so, else the planned one); plasma
//!   exchanges, visits and background treatment starts are `EVID` 2 rows told apart by
//!   `PROC`. Unless [`Options::expanded`], a run of equal doses at an equal interval is
//!   its first row with `ADDL`/`II` (see [`compress`]).
//! - `ids.csv`: `ID` to patient id, trial, arm, site, roster weight, start date and the
//!   date and time of `TIME` 0.
//! - `columns.csv`: each column's meaning, unit and codes.
//! - `input.txt`: the `$INPUT` and `$DATA` records to paste into a control stream.
//!
//! NONMEM splits a data record on commas and blanks, so no cell holds a blank, a comma or
//! a quote; the text columns are dropped (`=DROP`) in `$INPUT`.

use std::collections::BTreeMap;

use anyhow::bail;
use chrono::{NaiveDate, NaiveTime, Timelike};

use super::{
    Export, Files, Options, SITE_UTC_OFFSET, SITE_UTC_OFFSET_REASON, Subject, is_exposure,
};
use crate::format::Amount;
use crate::model::{Assumed, Kg, Trial, Unit};
use crate::recorded::Status;
use crate::schedule::{Event, EventKind, Origin};

/// The event table's columns in order: name, whether it is text (dropped in `$INPUT`),
/// meaning, unit. Each column's codes are written beside it in columns.csv.
pub const COLUMNS: &[(&str, bool, &str, &str)] = &[
    (
        "ID",
        false,
        "subject number: 1, 2, ... in the order of the patient ids; ids.csv maps it to the patient id",
        "",
    ),
    (
        "TIME",
        false,
        "hours from TIME 0, 00:00 of the date of the subject's first row (ids.csv time_zero); a row without a recorded clock time is assumed at 00:00 of its date; at most 4 decimals (0.36 s), no trailing zeros",
        "h",
    ),
    (
        "DATETIME",
        true,
        "the row's date (YYYY-MM-DD), with the clock time the day sheet recorded for a given dose (YYYY-MM-DDTHH:MM, :SS when not 0), site local time; on a row with ADDL above 0, the first dose's",
        "",
    ),
    ("EVID", false, "event type", ""),
    (
        "AMT",
        false,
        "the dose in AMTU: the amount given when GIVEN is 1, else the planned dose; 0 on EVID 2 rows",
        "AMTU",
    ),
    ("AMTU", true, "the unit of AMT", ""),
    (
        "CMT",
        false,
        "dosing compartment, one per dosed product; 0 on EVID 2 rows",
        "",
    ),
    (
        "II",
        false,
        "hours between the doses of a run written as one row; 0 when ADDL is 0",
        "h",
    ),
    (
        "ADDL",
        false,
        "how many more doses follow this one, each II hours after the one before, every other column the same but OCC (one more each); 0 in the expanded table",
        "",
    ),
    (
        "MDV",
        false,
        "1 on every row: the table holds no observations",
        "",
    ),
    (
        "DV",
        false,
        "dependent variable: 0 on every row, the table holding no observations (NM-TRAN and nlmixr2 need the column; a modeller adds the observations as EVID 0 rows)",
        "",
    ),
    (
        "WT",
        false,
        "body weight: on a dose or plasma exchange row the weight its amount was computed at (the record's weight when it changed the roster's), on another row that of the subject's last dose or exchange row before it, else the roster's",
        "kg",
    ),
    (
        "ARM",
        false,
        "treatment arm (ids.csv has each subject's)",
        "",
    ),
    (
        "SITE",
        false,
        "site whose calendar the subject is scheduled on (ids.csv has each subject's)",
        "",
    ),
    ("PROC", false, "what the row is", ""),
    (
        "VOLML",
        false,
        "plasma volume exchanged on a plasma exchange row (PROC 1), planned or as recorded; 0 on every other row",
        "mL",
    ),
    (
        "EVENT",
        true,
        "the id of the dose component, visit or background treatment in the scenario (a blank, comma or quote in it written as _)",
        "",
    ),
    (
        "OCC",
        false,
        "occurrence of EVENT for the subject: 1, 2, ...; on a row with ADDL above 0, the first of the run",
        "",
    ),
    ("GIVEN", false, "whether the record says it was given", ""),
    (
        "ASSUMED",
        true,
        "the row's values assumed rather than stated by the registry record (dosesim show SCENARIO gives each reason), joined by ;",
        "",
    ),
];

/// `PROC` of a dose of a cell product (`EVID` 1).
pub const PROC_DOSE: u8 = 0;
/// `PROC` of a plasma exchange (`EVID` 2).
pub const PROC_EXCHANGE: u8 = 1;
/// `PROC` of a study visit (`EVID` 2).
pub const PROC_VISIT: u8 = 2;
/// `PROC` of the start of a background treatment (`EVID` 2).
pub const PROC_BACKGROUND: u8 = 3;

/// One row of the event table, its cells ready to print but TIME and II (seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: u32,
    /// Seconds from TIME 0.
    pub secs: i64,
    pub datetime: String,
    pub evid: u8,
    pub amt: String,
    pub amtu: &'static str,
    pub cmt: u32,
    /// Seconds between the doses of a run (0 without one).
    pub ii_secs: i64,
    pub addl: u32,
    pub wt: String,
    pub arm: u32,
    pub site: u32,
    pub proc_code: u8,
    pub volml: String,
    pub event: String,
    pub occ: u32,
    pub given: u8,
    pub assumed: String,
    /// The event's order among the subject's events of its date (rows of one TIME keep it).
    pub order: u32,
}

impl Row {
    /// Whether two rows agree in every column but TIME, DATETIME, OCC and the run's
    /// II/ADDL: what the doses of one run must share.
    fn same_but_time(&self, other: &Row) -> bool {
        let key = |r: &Row| {
            (
                (r.id, r.evid, r.amt.clone(), r.amtu, r.cmt, r.wt.clone()),
                (r.arm, r.site, r.proc_code, r.volml.clone(), r.event.clone()),
                (r.given, r.assumed.clone()),
            )
        };
        key(self) == key(other)
    }

    /// Whether the row has a clock time from the record: such a dose stays a row of its
    /// own, its DATETIME the record's.
    fn timed(&self) -> bool {
        self.datetime.contains('T')
    }

    /// The row's cells in the order of [`COLUMNS`].
    fn cells(&self) -> [String; 20] {
        [
            self.id.to_string(),
            hours(self.secs),
            self.datetime.clone(),
            self.evid.to_string(),
            self.amt.clone(),
            self.amtu.to_string(),
            self.cmt.to_string(),
            hours(self.ii_secs),
            self.addl.to_string(),
            "1".to_string(),
            "0".to_string(),
            self.wt.clone(),
            self.arm.to_string(),
            self.site.to_string(),
            self.proc_code.to_string(),
            self.volml.clone(),
            self.event.clone(),
            self.occ.to_string(),
            self.given.to_string(),
            self.assumed.clone(),
        ]
    }
}

/// The numeric codes of a trial's arms, sites and dosed products.
struct Codes<'t> {
    trial: &'t Trial,
    /// Per product: its CMT, for the products some cell infusion doses.
    cmt: Vec<Option<u32>>,
    /// Site name to SITE code, 1.. in name order.
    sites: BTreeMap<String, u32>,
}

impl<'t> Codes<'t> {
    fn of(export: &Export<'t>) -> Self {
        let trial = export.trial;
        let dosed: Vec<bool> = (0..trial.products.len())
            .map(|p| {
                trial.arms.iter().any(|a| {
                    a.components.iter().any(|c| {
                        c.product == p && c.kind == crate::model::ComponentKind::CellInfusion
                    })
                })
            })
            .collect();
        let mut next = 0;
        let cmt = dosed
            .iter()
            .map(|&d| {
                d.then(|| {
                    next += 1;
                    next
                })
            })
            .collect();
        let names: std::collections::BTreeSet<&str> = export
            .subjects
            .iter()
            .filter_map(|s| s.patient.site.as_deref())
            .collect();
        let sites = names
            .into_iter()
            .zip(1..)
            .map(|(n, k)| (n.to_string(), k))
            .collect();
        Codes { trial, cmt, sites }
    }

    fn arm(&self, s: &Subject) -> u32 {
        let i = self.trial.arms.iter().position(|a| a.id == s.arm.id);
        i.map_or(0, |i| i as u32 + 1)
    }

    fn site(&self, s: &Subject) -> u32 {
        s.patient
            .site
            .as_deref()
            .and_then(|n| self.sites.get(n).copied())
            .unwrap_or(0)
    }
}

/// The files of the nonmem export: the event table, the ID map, the columns and the
/// `$INPUT` line.
pub fn files(export: &Export, options: &Options) -> anyhow::Result<Files> {
    let codes = Codes::of(export);
    let mut rows = Vec::new();
    for s in &export.subjects {
        let own = rows_of(s, &codes)?;
        rows.extend(if options.expanded { own } else { compress(own) });
    }
    let id = &export.trial.id;
    Ok(vec![
        (format!("{}.csv", safe(id)), table(&rows).into_bytes()),
        ("ids.csv".to_string(), ids(export, &codes)?),
        ("columns.csv".to_string(), columns(&codes)?),
        ("input.txt".to_string(), input(id).into_bytes()),
    ])
}

/// The date of TIME 0 for a subject: that of their first row, if they have any.
pub fn time_zero(s: &Subject) -> Option<NaiveDate> {
    s.events
        .iter()
        .filter(|e| is_exposure(e.status))
        .map(|e| e.date)
        .min()
}

/// A subject's rows, in TIME order (then the order of their events on a date), every
/// dose on a row of its own.
fn rows_of(s: &Subject, codes: &Codes) -> anyhow::Result<Vec<Row>> {
    let Some(zero) = time_zero(s) else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    let mut weights = Vec::new();
    for (k, e) in s.events.iter().enumerate() {
        if !is_exposure(e.status) {
            continue;
        }
        let time = s.recorded[k].as_ref().and_then(|g| g.time);
        let (row, weight) = row_of(s, e, time, zero, codes)?;
        rows.push(row);
        weights.push(weight);
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| (rows[i].secs, rows[i].order));
    let mut last = s.patient.weight_kg;
    let sorted = order
        .into_iter()
        .map(|i| {
            let mut r = rows[i].clone();
            // Rows with no dose of their own carry the last dose row's weight.
            last = weights[i].unwrap_or(last);
            r.wt = last.to_string();
            r
        })
        .collect();
    Ok(sorted)
}

/// One event's row (its WT left to [`rows_of`]), with the weight its dose was computed
/// at for a dose or exchange.
fn row_of(
    s: &Subject,
    e: &Event,
    time: Option<NaiveTime>,
    zero: NaiveDate,
    codes: &Codes,
) -> anyhow::Result<(Row, Option<Kg>)> {
    let at = time.unwrap_or(NaiveTime::MIN);
    let secs = (e.date - zero).num_seconds() + i64::from(at.num_seconds_from_midnight());
    let mut row = Row {
        id: s.number,
        secs,
        datetime: datetime(e.date, time),
        evid: 2,
        amt: "0".to_string(),
        amtu: ".",
        cmt: 0,
        ii_secs: 0,
        addl: 0,
        wt: String::new(),
        arm: codes.arm(s),
        site: codes.site(s),
        proc_code: PROC_VISIT,
        volml: "0".to_string(),
        event: safe(&event_id(s, e)).into_owned(),
        occ: e.occurrence,
        given: u8::from(e.status == Status::Given),
        assumed: assumed(e.assumed),
        order: e.order_in_day,
    };
    let weight = Some(e.weight.unwrap_or(s.patient.weight_kg));
    match e.kind {
        EventKind::CellInfusion => {
            let p = e.product(s.arm).unwrap_or_default();
            let unit = codes.trial.products[p].unit;
            let Some(dose) = e.dose.filter(|d| *d > 0.0) else {
                bail!(
                    "patient {}: {} {} has no dose amount, and a NONMEM dose row needs one",
                    s.patient.id,
                    event_id(s, e),
                    e.occurrence
                );
            };
            row.evid = 1;
            row.proc_code = PROC_DOSE;
            row.amt = Amount { value: dose, unit }.plain();
            row.amtu = unit.as_str();
            row.cmt = codes.cmt[p].unwrap_or_default();
            Ok((row, weight))
        }
        EventKind::PlasmaExchange => {
            row.proc_code = PROC_EXCHANGE;
            let p = e.product(s.arm).unwrap_or_default();
            let ml = e
                .volume_ml
                .or(e.dose.filter(|_| codes.trial.products[p].unit == Unit::Ml));
            row.volml = Amount {
                value: ml.unwrap_or_default(),
                unit: Unit::Ml,
            }
            .plain();
            Ok((row, weight))
        }
        EventKind::Visit => Ok((row, None)),
        EventKind::Background => {
            row.proc_code = PROC_BACKGROUND;
            Ok((row, None))
        }
    }
}

/// The id of the component, visit or background treatment an event comes from.
fn event_id(s: &Subject, e: &Event) -> String {
    match e.origin {
        Origin::Component(i) => s.arm.components[i].id.clone(),
        Origin::Visit(i) => s.arm.visits[i].id.clone(),
        Origin::Background(i) => s.arm.background[i].id.clone(),
    }
}

/// `YYYY-MM-DD`, or `YYYY-MM-DDTHH:MM` (`:SS` when not 0) with a clock time.
fn datetime(date: NaiveDate, time: Option<NaiveTime>) -> String {
    match time {
        None => date.format("%Y-%m-%d").to_string(),
        Some(t) if t.second() == 0 => format!("{}T{}", date, t.format("%H:%M")),
        Some(t) => format!("{}T{}", date, t.format("%H:%M:%S")),
    }
}

/// The ASSUMED cell: each name with `_` for its blanks, joined by `;`; `.` for none.
fn assumed(a: Assumed) -> String {
    if a.is_empty() {
        return ".".to_string();
    }
    a.names()
        .map(|n| n.replace(' ', "_"))
        .collect::<Vec<_>>()
        .join(";")
}

/// Text safe in a NONMEM data record: a blank, tab, comma or quote becomes `_`.
fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([' ', '\t', ',', '"', '\'']) {
        text.replace([' ', '\t', ',', '"', '\''], "_").into()
    } else {
        text.into()
    }
}

/// Hours for `secs` seconds, rounded to 4 decimals, trailing zeros dropped: 0, 168,
/// 10.6667 (10:40), 10.5.
pub fn hours(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let q = (secs.unsigned_abs() * 20_000 + 3_600) / 7_200;
    let (whole, frac) = (q / 10_000, q % 10_000);
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let f = format!("{frac:04}");
        format!("{sign}{whole}.{}", f.trim_end_matches('0'))
    }
}

/// Whether `secs` seconds print as hours exactly in 4 decimals, so that a run's later
/// doses (TIME + k * II) land exactly on their own TIME.
fn exact_hours(secs: i64) -> bool {
    secs > 0 && (secs * 10_000) % 3_600 == 0
}

/// A subject's rows (in TIME order, each dose its own) with each run of doses written
/// as its first row with `ADDL` and `II`: doses of one component with consecutive
/// occurrences, equal in every column but TIME, DATETIME and OCC, at one interval that
/// hours print exactly, none with a clock time from the record (that stays a row of its
/// own, so that its DATETIME says it). Rows of other events between them do not break a run: NONMEM and
/// pharmpy put the expanded doses back among them by TIME. Expanding gives back exactly
/// the rows (rows at one TIME may come in another order).
pub fn compress(rows: Vec<Row>) -> Vec<Row> {
    let mut absorbed = vec![false; rows.len()];
    let mut out = rows.clone();
    for i in 0..rows.len() {
        if absorbed[i] || rows[i].evid != 1 || rows[i].timed() {
            continue;
        }
        let (mut last, mut step, mut more) = (i, 0, 0);
        for j in i + 1..rows.len() {
            if rows[j].evid != 1 || rows[j].event != rows[i].event {
                continue;
            }
            let gap = rows[j].secs - rows[last].secs;
            let fits = rows[j].occ == rows[last].occ + 1
                && !rows[j].timed()
                && rows[i].same_but_time(&rows[j])
                && exact_hours(gap)
                && (step == 0 || gap == step);
            if !fits {
                break;
            }
            (absorbed[j], last, step, more) = (true, j, gap, more + 1);
        }
        out[i].addl = more;
        out[i].ii_secs = step;
    }
    out.into_iter()
        .zip(absorbed)
        .filter(|(_, a)| !a)
        .map(|(r, _)| r)
        .collect()
}

/// The event table: the header and a line per row.
fn table(rows: &[Row]) -> String {
    let mut out = COLUMNS.iter().map(|c| c.0).collect::<Vec<_>>().join(",");
    out.push('\n');
    for r in rows {
        out.push_str(&r.cells().join(","));
        out.push('\n');
    }
    out
}

/// ids.csv: a line per subject.
fn ids(export: &Export, codes: &Codes) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "ID",
        "patient_id",
        "trial_id",
        "ARM",
        "arm_id",
        "arm_name",
        "SITE",
        "site",
        "weight_kg",
        "start_date",
        "time_zero",
        "utc_offset",
        "utc_offset_assumed",
        "end_date",
        "end",
    ])?;
    for s in &export.subjects {
        let zero = time_zero(s).map(|d| format!("{d}T00:00"));
        let (end_date, end) = s
            .end
            .map(|(d, k)| (d.to_string(), k.as_str().to_string()))
            .unwrap_or_default();
        w.write_record([
            s.number.to_string().as_str(),
            &s.patient.id,
            &export.trial.id,
            &codes.arm(s).to_string(),
            &s.arm.id,
            &s.arm.name,
            &codes.site(s).to_string(),
            s.patient.site.as_deref().unwrap_or(""),
            &s.patient.weight_kg.to_string(),
            &s.patient.start.to_string(),
            zero.as_deref().unwrap_or(""),
            SITE_UTC_OFFSET,
            SITE_UTC_OFFSET_REASON,
            &end_date,
            &end,
        ])?;
    }
    Ok(w.into_inner()?)
}

/// Each column's codes: `value=meaning` joined by `; `.
fn codes(name: &str, codes: &Codes) -> String {
    let trial = codes.trial;
    let list: Vec<String> = match name {
        "EVID" => vec![
            "1=dose of a cell product".into(),
            "2=other event (plasma exchange, visit, background treatment start)".into(),
        ],
        "AMTU" => vec![
            "cells=whole cells".into(),
            "mL=millilitres".into(),
            ".=no dose (EVID 2)".into(),
        ],
        "CMT" => codes
            .cmt
            .iter()
            .zip(&trial.products)
            .filter_map(|(c, p)| c.map(|c| format!("{c}={} ({})", p.id, p.name)))
            .chain(["0=no compartment (EVID 2)".to_string()])
            .collect(),
        "ARM" => (trial.arms.iter().zip(1..))
            .map(|(a, k)| format!("{k}={} ({})", a.id, a.name))
            .collect(),
        "SITE" => std::iter::once("0=no site calendar".to_string())
            .chain(codes.sites.iter().map(|(n, k)| format!("{k}={n}")))
            .collect(),
        "PROC" => vec![
            format!("{PROC_DOSE}=dose of a cell product"),
            format!("{PROC_EXCHANGE}=plasma exchange"),
            format!("{PROC_VISIT}=study visit"),
            format!("{PROC_BACKGROUND}=background treatment start"),
        ],
        "MDV" => vec!["1=no observation".into()],
        "GIVEN" => vec![
            "1=given (a visit: held) by the record".into(),
            "0=planned, due or held: not recorded as given".into(),
        ],
        "ASSUMED" => Assumed::all()
            .names()
            .map(|n| n.replace(' ', "_"))
            .chain([".=nothing assumed".to_string()])
            .collect(),
        _ => Vec::new(),
    };
    list.join("; ")
}

/// columns.csv: a line per column of the event table.
fn columns(c: &Codes) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["name", "type", "meaning", "unit", "codes"])?;
    for &(name, text, meaning, unit) in COLUMNS {
        let kind = if text { "text (dropped)" } else { "number" };
        w.write_record([name, kind, meaning, unit, &codes(name, c)])?;
    }
    Ok(w.into_inner()?)
}

/// input.txt: the `$INPUT` and `$DATA` records for the table.
fn input(trial: &str) -> String {
    let names: Vec<String> = COLUMNS
        .iter()
        .map(|&(n, text, ..)| {
            if text {
                format!("{n}=DROP")
            } else {
                n.to_string()
            }
        })
        .collect();
    let (first, rest) = names.split_at(names.len() / 2);
    format!(
        "; dosesim export nonmem: the event table of {trial} (columns.csv says what each column holds)\n$INPUT {}\n       {}\n$DATA {}.csv IGNORE=@\n",
        first.join(" "),
        rest.join(" "),
        safe(trial)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dose(occ: u32, secs: i64) -> Row {
        Row {
            id: 1,
            secs,
            datetime: String::new(),
            evid: 1,
            amt: "4580000".into(),
            amtu: "cells",
            cmt: 1,
            ii_secs: 0,
            addl: 0,
            wt: "45.8".into(),
            arm: 1,
            site: 1,
            proc_code: PROC_DOSE,
            volml: "0".into(),
            event: "uc_msc".into(),
            occ,
            given: 0,
            assumed: ".".into(),
            order: 1,
        }
    }

    const WEEK: i64 = 7 * 24 * 3600;

    /// Every row a compressed table stands for, each dose its own (what NONMEM does).
    fn expand(rows: &[Row]) -> Vec<(i64, u32, String)> {
        let mut out: Vec<_> = rows
            .iter()
            .flat_map(|r| {
                (0..=r.addl).map(move |k| {
                    (
                        r.secs + i64::from(k) * r.ii_secs,
                        r.occ + k,
                        r.event.clone(),
                    )
                })
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn equal_doses_at_an_equal_interval_become_one_row() {
        let rows: Vec<Row> = (0..4).map(|k| dose(k + 1, k as i64 * WEEK)).collect();
        let c = compress(rows.clone());
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].addl, hours(c[0].ii_secs)), (3, "168".to_string()));
        assert_eq!(expand(&c), expand(&rows));
    }

    #[test]
    fn a_run_stops_at_another_interval_amount_or_a_missing_occurrence() {
        let mut rows: Vec<Row> = (0..6).map(|k| dose(k + 1, k as i64 * WEEK)).collect();
        rows[3].secs += 24 * 3600; // occurrence 4 a day late: intervals 8 days then 6
        rows[4].secs += 24 * 3600;
        rows[5].amt = "5000000".into();
        let c = compress(rows.clone());
        let shape: Vec<_> = c.iter().map(|r| (r.occ, r.addl)).collect();
        assert_eq!(shape, vec![(1, 2), (4, 1), (6, 0)]);
        assert_eq!(expand(&c), expand(&rows));
        let gap: Vec<Row> = [1, 2, 4].map(|o| dose(o, i64::from(o) * WEEK)).into();
        assert_eq!(
            compress(gap.clone()).len(),
            2,
            "a missed occurrence 3 ends the run"
        );
    }

    #[test]
    fn other_events_between_doses_do_not_break_a_run_and_stay() {
        let mut visit = dose(1, WEEK + 3600);
        (visit.evid, visit.proc_code, visit.event, visit.amt) =
            (2, PROC_VISIT, "week1".into(), "0".into());
        let rows = vec![dose(1, 0), visit, dose(2, 2 * WEEK), dose(3, 4 * WEEK)];
        let c = compress(rows.clone());
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].addl, c[0].ii_secs), (2, 2 * WEEK));
        assert_eq!(c[1].event, "week1");
        assert_eq!(expand(&c), expand(&rows));
    }

    #[test]
    fn given_and_planned_doses_or_inexact_intervals_stay_apart() {
        let mut rows: Vec<Row> = (0..3).map(|k| dose(k + 1, k as i64 * WEEK)).collect();
        rows[0].given = 1;
        assert_eq!(compress(rows).iter().map(|r| r.addl).sum::<u32>(), 1);
        // 7 days and 20 minutes: 168.3333 h would drift, so each stays its own row.
        let odd = WEEK + 20 * 60;
        let rows: Vec<Row> = (0..3).map(|k| dose(k + 1, k as i64 * odd)).collect();
        assert_eq!(compress(rows).len(), 3);
        // A dose the day sheet timed stays its own row, and the others run on.
        let mut rows: Vec<Row> = (0..4).map(|k| dose(k + 1, k as i64 * WEEK)).collect();
        rows[1].datetime = "2026-08-14T00:00".into();
        let shape: Vec<_> = compress(rows).iter().map(|r| (r.occ, r.addl)).collect();
        assert_eq!(shape, vec![(1, 0), (2, 0), (3, 1)]);
    }

    #[test]
    fn hours_print_exactly_enough() {
        assert_eq!(hours(0), "0");
        assert_eq!(hours(168 * 3600), "168");
        assert_eq!(hours(10 * 3600 + 40 * 60), "10.6667");
        assert_eq!(hours(10 * 3600 + 30 * 60), "10.5");
        assert_eq!(hours(3600 + 45), "1.0125");
        assert!(exact_hours(45) && exact_hours(3600) && !exact_hours(60));
    }

    #[test]
    fn text_cells_hold_no_blank_comma_or_quote() {
        assert_eq!(safe("uc msc,\"x\""), "uc_msc__x_");
        assert_eq!(safe("uc_msc"), "uc_msc");
        assert_eq!(assumed(Assumed::NONE), ".");
        assert_eq!(
            assumed(Assumed::TIMING | Assumed::CLOSED_DAY_RULE),
            "timing;closed-day_rule"
        );
        let t = NaiveTime::from_hms_opt(10, 40, 0);
        let d = NaiveDate::from_ymd_opt(2026, 8, 3).unwrap();
        assert_eq!(datetime(d, t), "2026-08-03T10:40");
        assert_eq!(datetime(d, None), "2026-08-03");
    }

    #[test]
    fn input_drops_every_text_column() {
        let text = input("NCT01724398");
        for &(n, t, ..) in COLUMNS {
            let word = if t {
                format!("{n}=DROP")
            } else {
                n.to_string()
            };
            assert!(text.split_whitespace().any(|w| w == word), "{word}");
        }
        assert!(text.contains("$DATA NCT01724398.csv IGNORE=@"));
    }
}
