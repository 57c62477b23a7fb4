//! The files of a cohort, written under `DIR/<trial id>/`: pharmacy.csv, prep.csv,
//! report.html and, per patient, `patients/<id>.csv`, `.ics` (for a patient with an
//! event), `.svg`, `.png` and `.html` (their own page); with an administration record,
//! deviations.csv and a copy of the record; and a typed [`Summary`] of what was made.
//! Before a folder is replaced, [`check`] makes sure the run may (the manifest's rules).
//! `cohort`, `run` and the examples go through here; every file goes through `write.rs`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::NaiveDate;
use rayon::prelude::*;

use crate::adherence::{self, Adherence};
use crate::chart;
use crate::cohort::Cohort;
use crate::describe::INCLUDES_ASSUMED;
use crate::error::{InputError, Problem};
use crate::export::{self, Calendar, Exporter, prep::Prep};
use crate::forecast::{self, Forecast, ForecastPlan};
use crate::format::{Amount, plural};
use crate::inputs::FromDb;
use crate::manifest::{self, Contents, Input, Manifest};
use crate::model::{Assumed, Kg, Trial};
use crate::record::Status;
use crate::report;
use crate::write;

/// Size of each patient's cumulative chart (pixels).
pub const PATIENT_CHART: (u32, u32) = (800, 450);
/// Weight of the reference patient in the trial-level charts (kg).
pub const REFERENCE_WEIGHT_KG: f64 = 60.0;

/// What a cohort run made.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub trial_id: String,
    pub dir: PathBuf,
    pub patients: usize,
    /// Doses of all products (infusions and exchanges).
    pub doses: u64,
    /// Per product given, in the scenario's product order.
    pub totals: Vec<ProductTotal>,
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
    /// With an administration record: dose intensity, deviations and the as-of date.
    pub record: Option<String>,
}

/// How much of one product a cohort is given.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductTotal {
    pub product: String,
    pub doses: u64,
    pub total: Amount,
    /// True when an assumed dose is in the total.
    pub includes_assumed: bool,
}

impl ProductTotal {
    /// "uc_msc: 64 doses, 3.20 x 10⁹ cells", marked when an assumed dose is in it.
    pub fn words(&self) -> String {
        let mut s = format!(
            "{}: {}, {}",
            self.product,
            plural(self.doses, "dose"),
            self.total.readable()
        );
        if self.includes_assumed {
            s.push_str(&format!(" [{INCLUDES_ASSUMED}]"));
        }
        s
    }
}

impl Summary {
    /// The summary without the trial id and folder: "16 patients; uc_msc: 64 doses, ...;
    /// 2027-01-04 to 2028-01-10".
    pub fn line(&self) -> String {
        let mut parts = vec![plural(self.patients as u64, "patient")];
        parts.extend(self.totals.iter().map(ProductTotal::words));
        if let (Some(a), Some(b)) = (self.first, self.last) {
            parts.push(format!("{a} to {b}"));
        }
        parts.extend(self.record.clone());
        parts.join("; ")
    }

    /// The line `cohort` and `run` print.
    pub fn render(&self) -> String {
        format!(
            "{}: {} -> {}\n",
            self.trial_id,
            self.line(),
            self.dir.display()
        )
    }
}

/// Up to this many patients, the report holds each one's calendar and chart.
pub const INLINE_PATIENTS: usize = 500;
/// Up to this many, the report lists every patient with a link to their own page; beyond,
/// it gives counts per arm (a list of 30,000 would be a page nobody reads).
pub const LISTED_PATIENTS: usize = 5_000;
/// How the report shows a cohort of `n` patients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    Inline,
    Listed,
    Counted,
}

fn shown(n: usize) -> Shown {
    if n <= INLINE_PATIENTS {
        Shown::Inline
    } else if n <= LISTED_PATIENTS {
        Shown::Listed
    } else {
        Shown::Counted
    }
}

/// Patients made (calendar, chart, files) at a time: memory holds one batch, whatever the
/// roster's size.
const BATCH: usize = 256;

pub use crate::adherence::RecordTally;

/// Adds up the doses of every calendar: the preparation list and the summary's totals.
fn tally<'c>(
    cohort: &Cohort<'c>,
    dir: &Path,
) -> (Prep, Summary, report::CalendarUse<'c>, Option<RecordTally>) {
    let trial = cohort.trial;
    let mut record = cohort.log.map(|l| RecordTally {
        adherence: Adherence::new(trial),
        deviations: Vec::new(),
        as_of: l.as_of,
    });
    let mut prep = Prep::default();
    let mut calendars = report::CalendarUse::default();
    let mut totals = vec![(0u64, 0.0, false); trial.products.len()];
    let mut doses = 0u64;
    let mut patients = 0;
    let (mut first, mut last) = (None::<NaiveDate>, None::<NaiveDate>);
    for &i in &cohort.roster.by_id {
        let (p, arm_index, events) = cohort.calendar(i);
        patients += 1;
        if let Some(cal) = cohort.site_calendar(i) {
            calendars.add(cal, arm_index, &events);
        }
        let arm = &trial.arms[arm_index];
        prep.add(arm, &p, &events);
        if let (Some(r), Some(log)) = (record.as_mut(), cohort.log) {
            let pl = log.patient(i);
            r.adherence.add(trial, arm_index, &events, &pl);
            r.deviations.extend(adherence::deviation_rows(
                trial,
                arm,
                &p.id,
                p.weight_kg,
                &events,
                &pl,
            ));
        }
        for e in &events {
            first = Some(first.map_or(e.date, |f| f.min(e.date)));
            last = Some(last.map_or(e.date, |l| l.max(e.date)));
            if let (Some(d), Some(prod), false) = (e.dose, e.product(arm), e.status == Status::Held)
            {
                let t = &mut totals[prod];
                t.0 += 1;
                t.1 += d;
                t.2 |= e.assumed.contains(Assumed::DOSE);
                doses += 1;
            }
        }
    }
    let summary = Summary {
        trial_id: trial.id.clone(),
        dir: dir.to_path_buf(),
        patients,
        doses,
        totals: product_totals(trial, totals),
        first,
        last,
        record: record.as_ref().map(|r| record_words(trial, r)),
    };
    (prep, summary, calendars, record)
}

/// Each product's doses and total, of the products given at all.
fn product_totals(trial: &Trial, totals: Vec<(u64, f64, bool)>) -> Vec<ProductTotal> {
    trial
        .products
        .iter()
        .zip(totals)
        .filter(|(_, (n, _, _))| *n > 0)
        .map(|(p, (n, t, assumed))| ProductTotal {
            product: p.id.clone(),
            doses: n,
            total: Amount {
                value: t,
                unit: p.unit,
            },
            includes_assumed: assumed,
        })
        .collect()
}

/// The summary's words for the record: its date, adherence, deviations, doses held.
fn record_words(trial: &Trial, r: &RecordTally) -> String {
    let n: u64 = r
        .adherence
        .arms
        .iter()
        .map(|a| a.deviations.iter().sum::<u64>())
        .sum();
    let mut words = vec![format!("as of {}", r.as_of)];
    words.extend(r.adherence.words(trial));
    words.push(format!("{} (deviations.csv)", plural(n, "deviation")));
    let held = Status::ALL
        .iter()
        .position(|s| *s == Status::Held)
        .map_or(0, |k| r.adherence.arms.iter().map(|a| a.statuses[k]).sum());
    if held > 0 {
        words.push(format!(
            "{} held for a decision (status held: record it given or missed)",
            plural(held, "dose")
        ));
    }
    words.join(", ")
}

/// Where [`make_patients`] writes the patients' files.
struct Files<'a> {
    /// The trial's (new) folder: patients/, sites/ and calendar.ics go in it.
    dir: &'a Path,
    inputs: &'a [Input],
    remind: Option<export::ics::Remind>,
    /// Added to every event's SEQUENCE ([`manifest::History`]).
    sequence_base: u64,
}

/// The trial's calendar file and one per site, with every patient's events, written as
/// the patients are made.
struct Collections {
    /// With whether it has an event yet.
    trial: (write::Pending, bool),
    /// By the roster's site index, with whether it has an event yet.
    sites: Vec<(write::Pending, bool)>,
}

impl Collections {
    fn create(cohort: &Cohort, dir: &Path) -> Result<Self> {
        let id = &cohort.trial.id;
        let mut trial = write::Pending::create(&dir.join(CALENDAR_FILE))?;
        trial.write(export::ics::header(&format!("{id} (every patient)")).as_bytes())?;
        let mut sites = Vec::new();
        if !cohort.roster.sites.is_empty() {
            let sites_dir = dir.join(SITES_DIR);
            std::fs::create_dir_all(&sites_dir)
                .with_context(|| format!("cannot create {}", sites_dir.display()))?;
            for site in &cohort.roster.sites {
                let mut f = write::Pending::create(&write::safe_child(&sites_dir, site, ".ics")?)?;
                f.write(export::ics::header(&format!("{id} at {site}")).as_bytes())?;
                sites.push((f, false));
            }
        }
        Ok(Collections {
            trial: (trial, false),
            sites,
        })
    }

    fn add(&mut self, site: Option<u16>, events: &str) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.trial.0.write(events.as_bytes())?;
        self.trial.1 = true;
        if let Some(s) = site {
            let (f, any) = &mut self.sites[usize::from(s)];
            f.write(events.as_bytes())?;
            *any = true;
        }
        Ok(())
    }

    /// Moves the files into place; a site (or a trial) whose patients have no appointment
    /// (a control arm's background treatment only) gets none: a calendar file must hold an
    /// event.
    fn finish(self) -> Result<()> {
        let files = std::iter::once(self.trial).chain(self.sites);
        for mut f in files.filter(|(_, any)| *any).map(|f| f.0) {
            f.write(export::ics::FOOTER.as_bytes())?;
            f.finish()?;
        }
        Ok(())
    }
}

/// The trial's calendar file, with every patient's events.
pub const CALENDAR_FILE: &str = crate::layout::CALENDAR_FILE;
/// The folder of the per-site calendar files, `sites/<SITE>.ics`.
pub const SITES_DIR: &str = "sites";

/// Makes every patient's rows and chart, a batch at a time in parallel, in id order. With
/// `files`, writes each patient's own files in its patients/ folder (calendar CSV and
/// .ics, chart SVG and PNG, and their page) and the trial's and sites' calendar files.
/// Returns the report's view of the patients: inline sections, a list, or counts, by the
/// cohort's size; and the highest SEQUENCE in the calendar files, if they have one.
fn make_patients(cohort: &Cohort, files: Option<Files>) -> Result<(report::Patients, Option<u64>)> {
    let n = cohort.roster.entries.len();
    let mut inline = Vec::new();
    let mut listed = Vec::new();
    let mut collections = match &files {
        Some(f) => Some(Collections::create(cohort, f.dir)?),
        None => None,
    };
    let patients_dir = files.as_ref().map(|f| f.dir.join("patients"));
    let mut sequence_max = None;
    for ids in cohort.roster.by_id.chunks(BATCH) {
        let made: Vec<Made> = ids
            .par_iter()
            .map(|&i| make_patient(cohort, i, files.as_ref(), patients_dir.as_deref(), n))
            .collect::<Result<_>>()?;
        for (&i, (html, line, ics, sequence)) in ids.iter().zip(made) {
            sequence_max = sequence_max.max(sequence);
            if let Some(c) = collections.as_mut() {
                c.add(cohort.roster.entries[i as usize].site, &ics)?;
            }
            match shown(n) {
                Shown::Inline => inline.push(html),
                Shown::Listed => listed.push(line),
                Shown::Counted => {}
            }
        }
    }
    if let Some(c) = collections {
        c.finish()?;
    }
    let patients = match shown(n) {
        Shown::Inline => report::Patients::Inline(inline),
        Shown::Listed => report::Patients::Listed(listed),
        Shown::Counted => counted(cohort),
    };
    Ok((patients, sequence_max))
}

/// One patient's report section (inline) or line, and when `files` are written, their
/// files and their events for the trial's and site's calendars, with the highest
/// sequence of their events.
type Made = (String, report::PatientLine, String, Option<u64>);

/// Patient `i`'s part of [`make_patients`].
fn make_patient(
    cohort: &Cohort,
    i: u32,
    files: Option<&Files>,
    patients_dir: Option<&Path>,
    n: usize,
) -> Result<Made> {
    let trial = cohort.trial;
    let (p, arm_index, events) = cohort.calendar(i);
    let arm = &trial.arms[arm_index];
    let rows = export::rows(trial, arm, &p, &events);
    let recorded = cohort.log.map(|l| (events.as_slice(), l.as_of));
    let (svg, png) = chart::patient_charts(
        trial,
        arm,
        &p,
        cohort.site_calendar(i),
        recorded,
        PATIENT_CHART,
    )?;
    let section = report::PatientSection {
        id: &p.id,
        arm_id: &arm.id,
        weight_kg: p.weight_kg,
        rows: &rows,
        chart_svg: &svg,
        site: cohort.site_calendar(i),
    };
    let (ics, sequence) = match (files, patients_dir) {
        (Some(f), Some(dir)) => {
            write_patient(cohort, i, f, dir, (&p, arm), &rows, (&svg, &png), &section)?
        }
        _ => (String::new(), None),
    };
    let html = if shown(n) == Shown::Inline {
        report::patient_section(&section, false).into_string()
    } else {
        String::new()
    };
    let line = report::PatientLine {
        id: p.id.clone(),
        arm_id: arm.id.clone(),
        weight_kg: p.weight_kg,
        start: p.start,
        doses: rows.iter().filter(|r| r.is_dose()).count(),
        calendar: export::ics::has_events(arm),
    };
    Ok((html, line, ics, sequence))
}

/// Patient `i`'s files (calendar CSV and .ics, chart, page) in `dir`: their .ics events,
/// and the highest sequence of those.
#[allow(clippy::too_many_arguments)]
fn write_patient(
    cohort: &Cohort,
    i: u32,
    f: &Files,
    dir: &Path,
    (p, arm): (&crate::schedule::Patient, &crate::model::Arm),
    rows: &[export::Row],
    (svg, png): (&str, &[u8]),
    section: &report::PatientSection,
) -> Result<(String, Option<u64>)> {
    let trial = cohort.trial;
    let mut sequence = None;
    let assumptions = patient_assumptions(cohort, i, arm);
    let cal = patient_calendar(
        cohort,
        i,
        (p, arm),
        rows,
        &assumptions,
        (f.remind, f.sequence_base),
    );
    let file = |ext: &str| write::safe_child(dir, &p.id, ext);
    write::atomic(&file(".csv")?, &export::csv::Csv.render(&cal)?)?;
    // The patient's events once: their own file, then the trial's and site's.
    let ics = export::ics::events(&cal);
    // No file without an event (background treatment only): RFC 5545.
    if !ics.is_empty() {
        let own = export::ics::file(&export::ics::own_name(&cal), &ics);
        write::atomic(&file(".ics")?, own.as_bytes())?;
        sequence = rows
            .iter()
            .filter(|r| r.kind != crate::schedule::EventKind::Background)
            .filter_map(|r| cal.sequence(r.status))
            .max();
    }
    write::atomic(&file(".svg")?, svg.as_bytes())?;
    write::atomic(&file(".png")?, png)?;
    let page = report::patient_page(trial, section, f.inputs);
    write::atomic(&file(".html")?, page.as_bytes())?;
    Ok((ics, sequence))
}

/// The assumed values patient `i`'s calendar files name: the arm's, its site's closed
/// days', and the record's.
fn patient_assumptions(
    cohort: &Cohort,
    i: u32,
    arm: &crate::model::Arm,
) -> Vec<crate::model::Assumption> {
    let trial = cohort.trial;
    let mut assumptions = trial.assumptions_of([arm]);
    if cohort.site_calendar(i).is_some() {
        assumptions.extend(trial.closed_day_assumptions_of([arm]));
    }
    if let Some(log) = cohort.log {
        let weighed = log.patient(i).weights().next().is_some();
        assumptions.extend(trial.record_assumptions_of([arm], weighed));
    }
    assumptions
}

/// Patient `i`'s calendar as the trial folder's files give it (for the staff), with a
/// reminder and the SEQUENCE base when given.
fn patient_calendar<'c>(
    cohort: &'c Cohort,
    i: u32,
    (p, arm): (&'c crate::schedule::Patient, &'c crate::model::Arm),
    rows: &'c [export::Row<'c>],
    assumptions: &'c [crate::model::Assumption],
    (remind, sequence_base): (Option<export::ics::Remind>, u64),
) -> Calendar<'c> {
    Calendar {
        trial: cohort.trial,
        arm,
        patient: p,
        warnings: &[],
        assumptions,
        rows,
        site: cohort.site_calendar(i),
        record: cohort.log.map(|l| export::Recorded {
            as_of: l.as_of,
            rows: l.entries_of(i),
        }),
        remind,
        audience: export::ics::Audience::Staff,
        sequence_base,
    }
}

/// Patient `i`'s calendar events (.ics VEVENTs) as the trial folder's files have them
/// when the folder is new (no reminder, no SEQUENCE base carried over): empty when the
/// patient has no appointment.
pub fn patient_events(cohort: &Cohort, i: u32) -> String {
    let trial = cohort.trial;
    let (p, arm_index, events) = cohort.calendar(i);
    let arm = &trial.arms[arm_index];
    let rows = export::rows(trial, arm, &p, &events);
    let assumptions = patient_assumptions(cohort, i, arm);
    let cal = patient_calendar(cohort, i, (&p, arm), &rows, &assumptions, (None, 0));
    export::ics::events(&cal)
}

/// Patient `i`'s own .ics, as `patients/<id>.ics` of a new trial folder has it; `None`
/// when the patient has no appointment (that file is not written).
pub fn patient_ics(cohort: &Cohort, i: u32) -> Option<String> {
    let trial = cohort.trial;
    let (p, arm_index, events) = cohort.calendar(i);
    let arm = &trial.arms[arm_index];
    let rows = export::rows(trial, arm, &p, &events);
    let assumptions = patient_assumptions(cohort, i, arm);
    let cal = patient_calendar(cohort, i, (&p, arm), &rows, &assumptions, (None, 0));
    let ics = export::ics::events(&cal);
    (!ics.is_empty()).then(|| export::ics::file(&export::ics::own_name(&cal), &ics))
}

/// The .ics of the roster's site `site` (its index in the roster's sites), as
/// `sites/<SITE>.ics` of a new trial folder has it: every patient's events at the site,
/// in patient id order; `None` when none has an appointment (that file is not written).
pub fn site_ics(cohort: &Cohort, site: u16) -> Option<String> {
    let name = cohort.roster.sites.get(usize::from(site))?;
    let mut out = export::ics::header(&format!("{} at {name}", cohort.trial.id));
    let mut any = false;
    for &i in &cohort.roster.by_id {
        if cohort.roster.entries[i as usize].site == Some(site) {
            let events = patient_events(cohort, i);
            any |= !events.is_empty();
            out.push_str(&events);
        }
    }
    out.push_str(export::ics::FOOTER);
    any.then_some(out)
}

/// The patients counted per arm, for a roster too large to list.
fn counted(cohort: &Cohort) -> report::Patients {
    let trial = cohort.trial;
    let mut per_arm = vec![0usize; trial.arms.len()];
    for e in &cohort.roster.entries {
        per_arm[e.arm as usize] += 1;
    }
    report::Patients::Counted(
        trial
            .arms
            .iter()
            .zip(per_arm)
            .map(|(a, k)| (a.id.clone(), k))
            .collect(),
    )
}

/// The trial report of a cohort.
fn report_html(
    cohort: &Cohort,
    prep: &Prep,
    calendars: &report::CalendarUse,
    record: Option<&RecordTally>,
    patients: report::Patients,
    inputs: &[Input],
    (forecast, audit): (Option<maud::Markup>, Option<&export::audit::Trail>),
) -> Result<String> {
    let trial = cohort.trial;
    let arms: Vec<&crate::model::Arm> = trial.arms.iter().collect();
    let reference = Kg::from_f64(REFERENCE_WEIGHT_KG);
    let timeline = chart::timeline_svg(trial, reference.f64(), chart::timeline_size(arms.len()))?;
    let cumulative = chart::cumulative_svg(
        trial,
        &arms,
        reference.f64(),
        None,
        false,
        chart::DEFAULT_SIZE,
    )?;
    let own = match patients {
        report::Patients::Inline(_) => "in their section below",
        _ => "on their own page",
    };
    let caption = format!(
        "Cumulative cell dose of each arm for a reference patient of {reference} kg; each patient's own chart is {own}."
    );
    Ok(report::render(&report::Report {
        trial,
        inputs,
        timeline_svg: &timeline,
        cumulative_svg: &cumulative,
        cumulative_caption: &caption,
        prep,
        calendars,
        record,
        patient_count: cohort.roster.entries.len(),
        patients,
        forecast,
        audit,
    }))
}

/// The trial folder's audit.csv, from the database the cohort was read from, up to the
/// entry it was read up to.
fn write_audit(db: &FromDb, trial_id: &str, dir: &Path) -> Result<export::audit::Trail> {
    let mut d = crate::db::Db::open(&db.location, crate::db::Open::Existing)?;
    let mut trail = None;
    write::atomic_with(&dir.join(export::audit::FILE), |w| {
        trail = Some(
            export::audit::write(&mut d, trial_id, db.head, w).map_err(std::io::Error::other)?,
        );
        Ok(())
    })?;
    Ok(trail.expect("the audit trail is written"))
}

/// The report a cohort's bundle would hold, made in memory (for the examples).
pub fn report_only(cohort: &Cohort) -> Result<String> {
    let (prep, _, calendars, record) = tally(cohort, Path::new(""));
    let (patients, _) = make_patients(cohort, None)?;
    let inputs = inputs_of(cohort)?;
    report_html(
        cohort,
        &prep,
        &calendars,
        record.as_ref(),
        patients,
        &inputs,
        (None, None),
    )
}

/// The report.html a new trial folder of a cohort would hold, made in memory (no file
/// written): with the audit-trail section when the cohort was read from a database, up to
/// the entry it was read up to.
pub fn report_of_folder(cohort: &Cohort) -> Result<String> {
    let (prep, _, calendars, record) = tally(cohort, Path::new(""));
    let (patients, _) = make_patients(cohort, None)?;
    let inputs = inputs_of(cohort)?;
    let audit = match cohort.database {
        Some(db) => {
            let mut d = crate::db::Db::open(&db.location, crate::db::Open::Existing)?;
            Some(export::audit::write(
                &mut d,
                &cohort.trial.id,
                db.head,
                &mut std::io::sink(),
            )?)
        }
        None => None,
    };
    report_html(
        cohort,
        &prep,
        &calendars,
        record.as_ref(),
        patients,
        &inputs,
        (None, audit.as_ref()),
    )
}

/// A cohort's input files (scenario and roster) with their SHA-256, for its manifest.
pub fn inputs_of(cohort: &Cohort) -> Result<Vec<Input>, InputError> {
    let mut inputs = vec![
        Input::of("scenario", &cohort.trial.file)?,
        Input::of("roster", &cohort.roster_path)?,
    ];
    // Each site calendar the roster uses, then the holiday files it reads, each once.
    inputs.extend(manifest::calendar_inputs(
        &cohort.site_calendars().collect::<Vec<_>>(),
    )?);
    if let Some(log) = cohort.log {
        let mut input = Input::of(manifest::RECORD_ROLE, &log.path)?;
        input.as_of = Some(log.as_of.to_string());
        inputs.push(input);
    }
    Ok(inputs)
}

/// What [`check`] found: the trial folder may be written, and what the new one carries
/// over from the one it replaces.
#[derive(Debug, Clone)]
pub struct Checked {
    inputs: Vec<Input>,
    history: manifest::History,
    /// The replaced folder's manifest as checked: when another run has changed it by the
    /// time this one writes, the folder is checked again.
    manifest: Option<Vec<u8>>,
    force: bool,
    record_from: String,
}

impl Checked {
    /// What to say on stderr: a roll-back forced, a record whose rows could not be checked.
    pub fn notes(&self) -> &[String] {
        &self.history.notes
    }
}

/// Whether the cohort may be written under `out/<trial id>/`: a folder of other inputs is
/// refused unless `force` ([`manifest::check_target`]), and so is one whose history the
/// cohort's record would roll back ([`manifest::check_history`]; `record_from` says where
/// the run takes its record from). Callers check every trial before writing any.
pub fn check(
    cohort: &Cohort,
    out: &Path,
    force: bool,
    record_from: &str,
) -> Result<Checked, InputError> {
    let dir = out.join(&cohort.trial.id);
    let inputs = inputs_of(cohort)?;
    manifest::check_target(&dir, &inputs, force)?;
    let bytes = std::fs::read(dir.join(manifest::FILE)).ok();
    let old = Manifest::read(&dir)?;
    if let Some(old) = &old {
        crate::manifest::check_replaced(&dir, &old.files, &inputs, "--out")
            .map_err(InputError::one)?;
    }
    // A file of the user's where the copy of the record goes would stop the swap after
    // all the work (it is kept, never replaced): said now.
    let copy = dir.join(manifest::RECORD_COPY);
    if cohort.log.is_some()
        && copy.exists()
        && !old
            .as_ref()
            .is_some_and(|m| m.files.iter().any(|f| f == manifest::RECORD_COPY))
    {
        return Err(InputError::one(Problem::new(
            &copy,
            "not dosesim's (the folder's manifest does not list it), and this run keeps the administration record it is made from under that name: move it, then run again",
        )));
    }
    let history = match old {
        Some(old) => {
            let chain = match (&old.database, cohort.database) {
                (Some(made), Some(db)) => Some(chain(db, made)?),
                _ => None,
            };
            let mut h = manifest::check_history(
                &dir,
                &old,
                inputs.iter().find(|i| i.role == manifest::RECORD_ROLE),
                record_from,
                force,
                chain.as_ref(),
            )?;
            manifest::raise_on_changed_inputs(&dir, &old, &inputs, &mut h);
            h
        }
        None => manifest::History::default(),
    };
    Ok(Checked {
        inputs,
        history,
        manifest: bytes,
        force,
        record_from: record_from.to_string(),
    })
}

/// The database a cohort was read from, and the hash it holds for the entry a folder was
/// made up to (`made`).
fn chain(db: &FromDb, made: &manifest::DbMark) -> Result<manifest::Chain, InputError> {
    let at_made = if made.entry > db.head.id {
        None
    } else {
        let found = crate::db::Db::open(&db.location, crate::db::Open::Existing)
            .and_then(|mut d| crate::db::books::entry(&mut d, made.entry));
        match found {
            Ok(e) => e.map(|e| crate::db::entry::hex(&e.hash)),
            Err(e) => return Err(InputError::one(Problem::flag("--db", format!("{e:#}")))),
        }
    };
    Ok(manifest::Chain {
        now: mark(db),
        at_made,
    })
}

/// A database's last entry as the manifest names it.
fn mark(db: &FromDb) -> manifest::DbMark {
    manifest::DbMark {
        database: db.label.clone(),
        entry: db.head.id,
        hash: crate::db::entry::hex(&db.head.hash),
    }
}

/// Writes every file of a [`check`]ed cohort as the folder `out/<trial id>/`, replacing an
/// earlier one as a whole and keeping the files in it that dosesim did not write. The
/// caller holds `out`'s [`write::FolderLock`]; `progress` is told how many pharmacy rows
/// are written.
pub fn write_cohort(
    cohort: &Cohort,
    out: &Path,
    checked: &Checked,
    remind: Option<export::ics::Remind>,
    progress: &dyn Fn(u64),
    forecast: Option<maud::Markup>,
) -> Result<Summary> {
    let trial = cohort.trial;
    let dir = write::safe_child(out, &trial.id, "")?;
    // Another run may have replaced the folder since it was checked (this one waited for
    // its lock): then it is checked again.
    let again;
    let checked = if std::fs::read(dir.join(manifest::FILE)).ok() == checked.manifest {
        checked
    } else {
        again = check(cohort, out, checked.force, &checked.record_from)?;
        for n in again.notes() {
            eprintln!("warning: {n}");
        }
        &again
    };
    let inputs = &checked.inputs;
    write::swap_folder(&dir, |new| {
        // The record the folder is made from, so that a rerun can tell it holds every row;
        // first, so that a record changed since it was read stops the run before the rest.
        if let (Some(log), Some(input)) = (
            cohort.log,
            inputs.iter().find(|i| i.role == manifest::RECORD_ROLE),
        ) {
            manifest::copy_record(&log.path, &new.join(manifest::RECORD_COPY), &input.sha256)?;
        }
        let patients_dir = new.join("patients");
        std::fs::create_dir_all(&patients_dir)
            .with_context(|| format!("cannot create {}", patients_dir.display()))?;
        write::atomic_with(&new.join("pharmacy.csv"), |w| {
            cohort.write_pharmacy(w, progress)
        })?;
        let (prep, summary, calendars, record) = tally(cohort, &dir);
        write::atomic_with(&new.join("prep.csv"), |w| {
            prep.write_csv(trial, w).map_err(std::io::Error::other)
        })?;
        if let Some(r) = &record {
            write::atomic_with(&new.join("deviations.csv"), |w| {
                export::deviations::write_csv(&r.deviations, w).map_err(std::io::Error::other)
            })?;
        }
        let audit = match cohort.database {
            Some(db) => Some(write_audit(db, &trial.id, new)?),
            None => None,
        };
        let files = Files {
            dir: new,
            inputs,
            remind,
            sequence_base: checked.history.sequence_base,
        };
        let (patients, sequence_max) = make_patients(cohort, Some(files))?;
        let html = report_html(
            cohort,
            &prep,
            &calendars,
            record.as_ref(),
            patients,
            inputs,
            (forecast, audit.as_ref()),
        )?;
        write::atomic(&new.join("report.html"), html.as_bytes())?;
        let contents = Contents::of_trial(trial, summary.patients, summary.doses, summary.line());
        let mut m = Manifest::of_folder(new, inputs, contents)?;
        m.sequence_base = checked.history.sequence_base;
        m.sequence_max = sequence_max;
        m.database = cohort.database.map(mark);
        write::atomic(&new.join(manifest::FILE), m.to_json().as_bytes())?;
        Ok(summary)
    })
}

// The forecast folder, `<trial id>/forecast/`: the simulation's results written out.

/// The trial folder's forecast folder: `out/<trial id>/forecast`.
pub fn forecast_folder(out: &Path, trial: &Trial) -> Result<PathBuf> {
    Ok(write::safe_child(out, &trial.id, "")?.join(crate::forecast::FOLDER))
}

/// Writes `dir` (the forecast folder) as a whole: weekly.csv, monthly.csv, summary.csv,
/// lots.csv (when the plan gives a lot size), the fan charts ([`forecast_charts`]), forecast.html and manifest.json. The caller holds the output folder's
/// lock and has checked `dir` with [`manifest::check_target`].
pub fn write_forecast(f: &Forecast, charts: &[ForecastChart], dir: &Path) -> Result<()> {
    let trial = f.model.trial;
    let parent = dir.parent().context("a forecast folder has a parent")?;
    // The trial folder is created if need be and cleared of what a killed run left.
    let _lock = write::lock_folder(parent)?;
    write::swap_folder(dir, |new| {
        let s = &f.summary;
        write::atomic_with(&new.join("weekly.csv"), |w| {
            crate::export::forecast::write_weekly(&f.model, s, w).map_err(std::io::Error::other)
        })?;
        write::atomic_with(&new.join("monthly.csv"), |w| {
            crate::export::forecast::write_monthly(&f.model, s, w).map_err(std::io::Error::other)
        })?;
        write::atomic_with(&new.join("summary.csv"), |w| {
            crate::export::forecast::write_summary(&f.model, s, w).map_err(std::io::Error::other)
        })?;
        if !s.lots.is_empty() {
            write::atomic_with(&new.join("lots.csv"), |w| {
                crate::export::forecast::write_lots(&f.model, s, w).map_err(std::io::Error::other)
            })?;
        }
        for (p, svg, png) in charts {
            write::atomic(
                &new.join(forecast::chart_name(trial, *p, "svg")),
                svg.as_bytes(),
            )?;
            write::atomic(&new.join(forecast::chart_name(trial, *p, "png")), png)?;
        }
        let svgs: Vec<(usize, &str)> = charts.iter().map(|(p, s, _)| (*p, s.as_str())).collect();
        write::atomic(
            &new.join("forecast.html"),
            crate::report::forecast_page(f, &svgs).as_bytes(),
        )?;
        let doses = f
            .summary
            .all_sites()
            .map(|t| t.doses.mean.round() as u64)
            .sum();
        let patients = f.model.plan.target_patients as usize;
        let contents = Contents::of_trial(trial, patients, doses, forecast::summary_line(f));
        let m = Manifest::of_folder(new, &f.inputs, contents)?;
        write::atomic(&new.join(manifest::FILE), m.to_json().as_bytes())?;
        Ok(())
    })
}

// An export folder, `<trial id>/<format>/`: the schedule and the record for other tools.

/// The trial folder's folder of an export: `out/<trial id>/<format>` (`nonmem`, `sdtm`,
/// `fhir`).
pub fn export_folder(
    out: &Path,
    trial: &Trial,
    format: crate::exchange::Format,
) -> Result<PathBuf> {
    Ok(write::safe_child(out, &trial.id, "")?.join(format.as_str()))
}

/// Whether an export may be written as the folder `dir` ([`export_folder`]): a folder of
/// other inputs is refused unless `force` ([`manifest::check_target`]), and so is one made
/// with an administration record that this run's would roll back: none, fewer rows, an
/// earlier as-of date, or a database that lacks the entry it was made up to
/// ([`manifest::check_history`]; `record_from` says where the run takes its record from).
/// Gives what to say on stderr.
pub fn check_export(
    cohort: &Cohort,
    dir: &Path,
    force: bool,
    record_from: &str,
) -> Result<(Vec<Input>, Vec<String>), InputError> {
    let inputs = inputs_of(cohort)?;
    manifest::check_target(dir, &inputs, force)?;
    let Some(old) = Manifest::read(dir)? else {
        return Ok((inputs, Vec::new()));
    };
    manifest::check_replaced(dir, &old.files, &inputs, "--out").map_err(InputError::one)?;
    let chain = match (&old.database, cohort.database) {
        (Some(made), Some(db)) => Some(chain(db, made)?),
        _ => None,
    };
    let history = manifest::check_history(
        dir,
        &old,
        inputs.iter().find(|i| i.role == manifest::RECORD_ROLE),
        record_from,
        force,
        chain.as_ref(),
    )?;
    // An export has no calendar SEQUENCE to raise: a forced roll-back is said in its own
    // words.
    let notes = history
        .notes
        .into_iter()
        .map(|n| match n.strip_prefix("--force: ") {
            Some(rest) => format!(
                "--force: {}",
                rest.split_once("; every event in its calendar files")
                    .map_or(rest, |(said, _)| said)
            ),
            None => n,
        })
        .collect();
    Ok((inputs, notes))
}

/// Writes an export's files as the folder `dir` ([`export_folder`]), replacing an earlier
/// one as a whole, with its manifest.json (`inputs`: what it was made from; `doses` and
/// `line`: what it holds, a count and in words). The caller holds the output folder's lock and has checked `dir` with
/// [`manifest::check_target`].
pub fn write_export(
    cohort: &Cohort,
    files: &crate::exchange::Files,
    inputs: &[Input],
    (doses, line): (u64, String),
    dir: &Path,
) -> Result<()> {
    let parent = dir.parent().context("an export folder has a parent")?;
    // The trial folder is created if need be and cleared of what a killed run left.
    let _lock = write::lock_folder(parent)?;
    write::swap_folder(dir, |new| {
        for (name, bytes) in files {
            let path = new.join(name);
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder)
                    .with_context(|| format!("cannot create {}", folder.display()))?;
            }
            write::atomic(&path, bytes)?;
        }
        let contents = Contents::of_trial(cohort.trial, cohort.roster.entries.len(), doses, line);
        let mut m = Manifest::of_folder(new, inputs, contents)?;
        m.database = cohort.database.map(mark);
        write::atomic(&new.join(manifest::FILE), m.to_json().as_bytes())?;
        Ok(())
    })
}

/// A forecast made in memory: forecast.html (its charts inline) and the CSV files its
/// links name, as [`write_forecast`] writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastPages {
    pub html: String,
    /// (file name, bytes): weekly.csv, monthly.csv, summary.csv and, when the plan gives
    /// a lot size, lots.csv.
    pub files: Vec<(&'static str, Vec<u8>)>,
    /// One line of what it found, as the command prints it.
    pub summary: String,
}

/// The trial's forecast from `loaded` (its plan, and its roster and record when it has
/// them), `replicates` times with `seed`, as `dosesim forecast` writes it, in memory.
pub fn forecast_pages(
    loaded: &crate::inputs::Inputs,
    replicates: u64,
    seed: u64,
) -> Result<ForecastPages> {
    let trial = &loaded.trial;
    let plan_file = loaded
        .plan
        .as_ref()
        .context("the trial has no forecast plan")?;
    let (plan, calendars) = (&plan_file.plan, &plan_file.sites);
    let roster = loaded.roster.as_ref();
    let log = loaded.log.as_ref();
    let inputs = {
        let mut all = calendars.clone();
        all.extend(loaded.sites.clone());
        forecast_inputs(trial, plan, &all, roster.map(|r| r.path.as_path()), log)?
    };
    let model = forecast::Model::new(
        trial,
        plan,
        calendars,
        roster.map(|r| forecast::OnStudy {
            roster: &r.roster,
            path: &r.path,
            sites: &loaded.sites,
            log,
        }),
    )?;
    let f = forecast::simulate(model, replicates, seed, 0, inputs, &|_| {})?;
    let charts = forecast_charts(&f)?;
    let svgs: Vec<(usize, &str)> = charts.iter().map(|(p, s, _)| (*p, s.as_str())).collect();
    let s = &f.summary;
    let csv = |w: &dyn Fn(&mut Vec<u8>) -> csv::Result<()>| -> Result<Vec<u8>> {
        let mut out = Vec::new();
        w(&mut out)?;
        Ok(out)
    };
    let mut files = vec![
        (
            "weekly.csv",
            csv(&|w| export::forecast::write_weekly(&f.model, s, w))?,
        ),
        (
            "monthly.csv",
            csv(&|w| export::forecast::write_monthly(&f.model, s, w))?,
        ),
        (
            "summary.csv",
            csv(&|w| export::forecast::write_summary(&f.model, s, w))?,
        ),
    ];
    if !s.lots.is_empty() {
        files.push((
            "lots.csv",
            csv(&|w| export::forecast::write_lots(&f.model, s, w))?,
        ));
    }
    Ok(ForecastPages {
        html: report::forecast_page(&f, &svgs),
        files,
        summary: forecast::summary_line(&f),
    })
}

/// A product's fan chart: the product's index, the SVG and the PNG.
pub type ForecastChart = (usize, String, Vec<u8>);

/// Each product's fan chart, as SVG and PNG.
pub fn forecast_charts(f: &Forecast) -> Result<Vec<ForecastChart>> {
    let mut out = Vec::new();
    for (k, &p) in f.model.products.iter().enumerate() {
        let (svg, png) = crate::chart::fan_charts(f, k, crate::chart::DEFAULT_SIZE)?;
        out.push((p, svg, png));
    }
    Ok(out)
}

/// The forecast section of the trial's report, with its charts.
pub fn forecast_section(f: &Forecast, charts: &[ForecastChart]) -> maud::Markup {
    let svgs: Vec<(usize, &str)> = charts.iter().map(|(p, s, _)| (*p, s.as_str())).collect();
    crate::report::forecast_section(f, &svgs, "forecast/")
}

/// The plan's and the calendars' files, with their SHA-256, for the manifest.
pub fn forecast_inputs(
    trial: &Trial,
    plan: &ForecastPlan,
    calendars: &crate::site::Sites,
    roster: Option<&Path>,
    log: Option<&crate::record::Log>,
) -> Result<Vec<Input>, crate::error::InputError> {
    let mut inputs = vec![
        Input::of("scenario", &trial.file)?,
        Input::of("forecast plan", &plan.file)?,
    ];
    if let crate::forecast::plan::WeightModel::Roster { path, .. } = &plan.weight {
        inputs.push(Input::of("weight roster", path)?);
    }
    if let Some(r) = roster {
        inputs.push(Input::of("roster", r)?);
    }
    if let Some(l) = log {
        let mut input = Input::of(manifest::RECORD_ROLE, &l.path)?;
        input.as_of = Some(l.as_of.to_string());
        inputs.push(input);
    }
    inputs.extend(manifest::calendar_inputs(
        &calendars.values().collect::<Vec<_>>(),
    )?);
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Unit;

    #[test]
    fn a_large_cohort_is_listed_then_counted_in_the_report() {
        assert_eq!(shown(1), Shown::Inline);
        assert_eq!(shown(INLINE_PATIENTS), Shown::Inline);
        assert_eq!(shown(INLINE_PATIENTS + 1), Shown::Listed);
        assert_eq!(shown(LISTED_PATIENTS), Shown::Listed);
        assert_eq!(shown(LISTED_PATIENTS + 1), Shown::Counted);
        assert_eq!(shown(30_000), Shown::Counted);
    }

    #[test]
    fn a_total_with_an_assumed_dose_says_so() {
        let t = ProductTotal {
            product: "ucb_msc".into(),
            doses: 1044,
            total: Amount {
                value: 6_693_920_000.0,
                unit: Unit::Cells,
            },
            includes_assumed: true,
        };
        assert_eq!(
            t.words(),
            "ucb_msc: 1044 doses, 6.69 x 10⁹ cells (exactly 6693920000) [includes assumed doses]"
        );
    }
}
