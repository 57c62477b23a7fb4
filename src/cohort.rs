//! A cohort: a roster expanded against a trial, and the pharmacy schedule streamed from it
//! in date order without collecting the rows.
//!
//! The pharmacy schedule is sorted by date, then patient id, then order within the day.
//! Rather than building and sorting every row (6 million for a million patients), the
//! cohort keeps one small index (`DayIndex`): for each date that has events, the
//! patients (as u32 indices) who have one that day, in patient-id order. Writing then walks
//! the dates, re-expands each listed patient's plan (cheap: a few dated slots) and prints
//! that day's events. Memory is the roster plus a few bytes per patient-day, whatever the
//! span of the start dates; the rows themselves exist only in the output buffers, which are
//! formatted in parallel and written in order.

use std::io::{self, Write};
use std::path::Path;

use chrono::NaiveDate;
use rayon::prelude::*;

use crate::error::{InputError, Problem};
use crate::export::{self, Column, Scope};
use crate::format::trim_decimals;
use crate::inputs::Inputs;
use crate::model::{Assumed, ComponentKind, Kg, Trial, Unit};
use crate::moves::Flags;
use crate::record::Log;
use crate::roster::{self, Roster};
use crate::schedule::{self, Event, EventKind, Expand, Origin, Patient, PlacedSlot, Plan};
use crate::site::{SiteCalendar, Sites};
use crate::timing;

/// Roughly how many patient-days one formatting task takes on.
const CHUNK_PATIENT_DAYS: usize = 16_384;

pub struct Cohort<'t> {
    pub trial: &'t Trial,
    pub roster: &'t Roster,
    /// The roster file, as named on the command line.
    pub roster_path: std::path::PathBuf,
    /// One compiled plan per arm, indexed like `trial.arms`.
    pub plans: Vec<Plan<'t>>,
    texts: Vec<ArmTexts>,
    first_date: NaiveDate,
    /// Each patient's dose of each component (`dose_width` a patient, indexed like
    /// `roster.entries`), computed once in exact arithmetic rather than on every date.
    doses: Vec<Option<f64>>,
    dose_width: usize,
    /// The patients with events on each date that has any.
    days: DayIndex,
    rows: u64,
    /// The site calendars, by the roster's site index (`None`: a site without one).
    site_calendars: Vec<Option<&'t SiteCalendar>>,
    /// Where each distinct (arm, site, start date) puts its events, one after another:
    /// placement `k` is `placed[ranges[k].0..ranges[k].1]`.
    placed: Vec<PlacedSlot>,
    ranges: Vec<(u32, u32)>,
    /// Each patient's placement (`NOT_PLACED`: every day open), indexed like
    /// `roster.entries`; empty when no patient is on a site calendar and the record
    /// moved nothing. A patient whose recorded dates differ from their shared placement
    /// has one of their own, re-projected from the record.
    placement_of: Vec<u32>,
    /// Whether any patient is on a site calendar.
    on_calendar: bool,
    /// The administration record, if one was given: every event then has a status.
    pub log: Option<&'t Log>,
    /// The database the roster and record were read from, if they were: the folder names
    /// the entry it is made up to, and holds the audit trail.
    pub database: Option<&'t crate::inputs::FromDb>,
}

/// A patient scheduled without a site calendar.
const NOT_PLACED: u32 = u32::MAX;

/// No site calendars.
static NO_SITES: Sites = Sites::new();

impl<'t> Cohort<'t> {
    /// Expands every patient once, to check each schedule can be made (a dose above the
    /// maximum, say) and to index the dates. Every problem is reported, with its row.
    pub fn new(
        trial: &'t Trial,
        roster: &'t Roster,
        roster_path: &Path,
    ) -> Result<Self, InputError> {
        Self::on_calendars(trial, roster, roster_path, &NO_SITES)
    }

    /// As [`Cohort::new`], each patient with a `site` scheduled on that site's calendar
    /// (events moved by the scenario's closed-day rules, and flagged).
    pub fn on_calendars(
        trial: &'t Trial,
        roster: &'t Roster,
        roster_path: &Path,
        sites: &'t Sites,
    ) -> Result<Self, InputError> {
        Self::build(trial, roster, roster_path, sites, None)
    }

    /// The cohort of loaded [`Inputs`]: their roster on its site calendars, with their
    /// record when there is one.
    ///
    /// # Panics
    /// When the inputs have no roster (see [`Inputs::roster_file`]).
    pub fn of(inputs: &'t Inputs) -> Result<Self, InputError> {
        let r = inputs.roster_file();
        let mut cohort = Self::build(
            &inputs.trial,
            &r.roster,
            &r.path,
            &inputs.sites,
            inputs.log.as_ref(),
        )?;
        cohort.database = inputs.database.as_ref();
        Ok(cohort)
    }

    /// As [`Cohort::on_calendars`], with the administration record applied when `log` is
    /// given: what happened stays as recorded, the rest is re-projected from it.
    pub fn build(
        trial: &'t Trial,
        roster: &'t Roster,
        roster_path: &Path,
        sites: &'t Sites,
        log: Option<&'t Log>,
    ) -> Result<Self, InputError> {
        Self::make(trial, roster, sites, log, Blame::Roster(roster_path))
    }

    /// One patient given by flags (`calendar --arm --weight --start`, or a roster's line
    /// read for `calendar --roster`), as a cohort of one (`roster`): placed, their record
    /// applied and re-projected as any cohort's. A schedule that cannot be made is said of
    /// the scenario and the flag at fault.
    pub fn one(
        trial: &'t Trial,
        roster: &'t Roster,
        sites: &'t Sites,
        log: Option<&'t Log>,
    ) -> Result<Self, InputError> {
        Self::make(trial, roster, sites, log, Blame::Flags(&trial.file))
    }

    /// Places every patient, applies the record, computes each patient's doses, then
    /// expands every patient once to check their schedule and index their dates.
    fn make(
        trial: &'t Trial,
        roster: &'t Roster,
        sites: &'t Sites,
        log: Option<&'t Log>,
        blame: Blame,
    ) -> Result<Self, InputError> {
        let plans: Vec<Plan> = trial.arms.iter().map(|a| Plan::new(trial, a)).collect();
        let site_calendars: Vec<Option<&SiteCalendar>> =
            roster.sites.iter().map(|s| sites.get(s.as_ref())).collect();
        let (mut placed, mut ranges, mut placement_of) =
            place_patients(&plans, roster, &site_calendars);
        let on_calendar = !ranges.is_empty();
        let mut problems: Vec<Problem> = Vec::new();
        if let Some(log) = log {
            problems = reproject(
                &plans,
                roster,
                &site_calendars,
                log,
                (&mut placed, &mut ranges, &mut placement_of),
            );
        }
        let texts = plans.iter().map(ArmTexts::new).collect();
        let first_date = roster
            .entries
            .iter()
            .map(|e| e.start)
            .min()
            .unwrap_or_default();
        let (doses, dose_width) = patient_doses(trial, &plans, roster);
        let mut cohort = Cohort {
            trial,
            roster,
            roster_path: blame.roster_path().to_path_buf(),
            plans,
            texts,
            doses,
            dose_width,
            first_date,
            days: DayIndex::default(),
            rows: 0,
            site_calendars,
            placed,
            ranges,
            placement_of,
            on_calendar,
            log,
            database: None,
        };
        problems.extend(cohort.index(blame));
        problems.sort_by_key(|p| p.line);
        InputError::check(problems)?;
        Ok(cohort)
    }

    /// Expands every patient once, to check each schedule can be made and to index the
    /// dates: in parallel over slices of the id order, each listing its (day, patient)
    /// pairs in id order, which [`DayIndex::build`] groups by day. The problems of the
    /// patients whose schedule cannot be made.
    fn index(&mut self, blame: Blame) -> Vec<Problem> {
        let ids = &self.roster.by_id;
        let slice = ids
            .len()
            .div_ceil(rayon::current_num_threads().max(1) * 4)
            .max(1);
        let parts: Vec<Slice> = ids
            .par_chunks(slice)
            .map(|ids| self.index_slice(ids, blame))
            .collect();
        self.rows = parts.iter().map(|p| p.rows).sum();
        let mut problems = Vec::new();
        let mut pair_lists = Vec::with_capacity(parts.len());
        for p in parts {
            pair_lists.push(p.pairs);
            problems.extend(p.problems);
        }
        self.days = DayIndex::build(pair_lists);
        problems
    }

    /// One slice of the id order: its patients' (day, patient) pairs, problems and rows.
    fn index_slice(&self, ids: &[u32], blame: Blame) -> Slice {
        // One pair per patient-date: sized once, from the first patient's dates, rather
        // than grown by doubling.
        let mut out = Slice::default();
        let mut buf = Vec::new();
        for (k, &i) in ids.iter().enumerate() {
            let placement = match self.check_patient(i, blame, &mut buf) {
                Ok(p) => p,
                Err(p) => {
                    out.problems.push(p);
                    continue;
                }
            };
            out.rows += buf.len() as u64;
            let pairs = &mut out.pairs;
            // Dates run from 0001 to 9999: under 3.7 million days.
            let mut push = |day: u32| {
                if pairs.last() != Some(&(day, i)) {
                    pairs.push((day, i));
                }
            };
            let e = &self.roster.entries[i as usize];
            match placement {
                Some(p) => {
                    let offset = (e.start - self.first_date).num_days() - 1;
                    for d in p.iter().map(PlacedSlot::study_day) {
                        push((offset + d) as u32);
                    }
                }
                None => {
                    for ev in &buf {
                        push((ev.date - self.first_date).num_days() as u32);
                    }
                }
            }
            if k == 0 {
                out.pairs.reserve_exact(out.pairs.len() * (ids.len() - 1));
            }
        }
        out
    }

    /// Checks that patient `i`'s schedule can be made, expanding it into `buf`: their
    /// placement, if they have one, or the problem.
    fn check_patient(
        &self,
        i: u32,
        blame: Blame,
        buf: &mut Vec<Event>,
    ) -> Result<Option<&[PlacedSlot]>, Problem> {
        let e = &self.roster.entries[i as usize];
        let known = self.known_doses(i);
        let plan = &self.plans[e.arm as usize];
        let placement = self.placement(i);
        // The plan as it is checks the doses and dates (a move never makes a schedule
        // fail: the placement was made); a placement then gives the scheduled days.
        plan.expand(&Expand::new(e.weight_kg, e.start).doses(known), buf)
            .map_err(|err| blame.problem(e, err))?;
        // On a site calendar with no placement: moving its events off closed days runs
        // past the calendar (a start date late in 9999).
        if let (None, Some(cal)) = (placement, self.site_calendar(i))
            && let Err(err) = plan.placement(e.start, cal)
        {
            return Err(blame.problem(e, err));
        }
        // A weight recorded in the log may take a dose above the maximum.
        if let Some(log) = self.log {
            let pl = log.patient(i);
            if pl.weights().next().is_some() {
                let how = Expand::new(e.weight_kg, e.start)
                    .doses(known)
                    .placed(placement)
                    .record(&pl, log.as_of);
                plan.expand(&how, buf)
                    .map_err(|err| crate::record::schedule_problem(&log.path, &e.id, &pl, &err))?;
            }
        }
        Ok(placement)
    }

    /// Patient `i`'s dose of each component, computed once.
    fn known_doses(&self, i: u32) -> &[Option<f64>] {
        let w = self.dose_width;
        &self.doses[i as usize * w..(i as usize + 1) * w]
    }

    /// Patient `i`'s placement on their site's calendar, if they are on one.
    fn placement(&self, i: u32) -> Option<&[PlacedSlot]> {
        match self.placement_of.get(i as usize) {
            Some(&p) if p != NOT_PLACED => {
                let (a, b) = self.ranges[p as usize];
                Some(&self.placed[a as usize..b as usize])
            }
            _ => None,
        }
    }

    /// The calendar patient `i`'s site keeps, if any.
    pub fn site_calendar(&self, i: u32) -> Option<&'t SiteCalendar> {
        let e = &self.roster.entries[i as usize];
        e.site
            .and_then(|s| self.site_calendars.get(usize::from(s)).copied().flatten())
    }

    /// The site calendars the roster's patients use, in site order.
    pub fn site_calendars(&self) -> impl Iterator<Item = &'t SiteCalendar> + '_ {
        self.site_calendars.iter().flatten().copied()
    }

    /// Whether any patient is scheduled on a site calendar.
    pub fn on_any_calendar(&self) -> bool {
        self.on_calendar
    }

    /// Number of rows the pharmacy schedule has.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn patient(&self, i: u32) -> Patient {
        let e = &self.roster.entries[i as usize];
        Patient {
            id: e.id.to_string(),
            weight_kg: e.weight_kg,
            start: e.start,
            site: self.roster.site(e).map(str::to_string),
        }
    }

    /// Writes the pharmacy CSV (header included); `progress` is told how many rows are done.
    pub fn write_pharmacy(
        &self,
        out: &mut (dyn Write + Send),
        progress: &dyn Fn(u64),
    ) -> io::Result<()> {
        self.write_pharmacy_between(out, progress, None, None)
    }

    /// [`Cohort::write_pharmacy`], of the dates from `first` to `last` (both included;
    /// `None`: no bound) only.
    pub fn write_pharmacy_between(
        &self,
        out: &mut (dyn Write + Send),
        progress: &dyn Fn(u64),
        first: Option<NaiveDate>,
        last: Option<NaiveDate>,
    ) -> io::Result<()> {
        let mut header = export::header().join(",");
        header.push('\n');
        out.write_all(header.as_bytes())?;

        // The indexed dates in the range: days[a..b].
        let offset = |d: NaiveDate| (d - self.first_date).num_days();
        let a = first.map_or(0, |f| {
            self.days
                .days
                .partition_point(|&d| i64::from(d) < offset(f))
        });
        let b = last.map_or(self.days.len(), |l| {
            self.days
                .days
                .partition_point(|&d| i64::from(d) <= offset(l))
        });
        // Split the days into chunks of similar work, then format batches of chunks in
        // parallel and write each batch in order.
        let mut chunks: Vec<(usize, usize)> = Vec::new();
        let (mut from, mut load) = (a, 0);
        for d in a..b.max(a) {
            load += self.days.patients(d).len();
            if load >= CHUNK_PATIENT_DAYS {
                chunks.push((from, d + 1));
                from = d + 1;
                load = 0;
            }
        }
        if from < b {
            chunks.push((from, b));
        }
        // While one batch is written, the next is formatted. Two batches of buffers go
        // round and round, so their pages are touched once, not once a chunk.
        let batch = rayon::current_num_threads().max(1) * 2;
        let mut done = 0u64;
        let mut ready: Vec<(Vec<u8>, u64)> = Vec::new();
        let mut spare: Vec<Vec<u8>> = Vec::new();
        for group in chunks.chunks(batch) {
            let jobs: Vec<((usize, usize), Vec<u8>)> = group
                .iter()
                .map(|&days| (days, spare.pop().unwrap_or_default()))
                .collect();
            let (written, next) = rayon::join(
                || write_parts(out, &ready),
                || {
                    jobs.into_par_iter()
                        .map(|((a, b), buf)| self.format_days(a, b, buf))
                        .collect::<Vec<_>>()
                },
            );
            done += written?;
            progress(done);
            spare.extend(
                std::mem::replace(&mut ready, next)
                    .into_iter()
                    .map(|(mut buf, _)| {
                        buf.clear();
                        buf
                    }),
            );
        }
        done += write_parts(out, &ready)?;
        progress(done);
        Ok(())
    }

    /// The CSV rows of the indexed dates `a..b` appended to `out`, and how many there are.
    fn format_days(&self, a: usize, b: usize, mut out: Vec<u8>) -> (Vec<u8>, u64) {
        out.reserve(CHUNK_PATIENT_DAYS * 160);
        let mut events: Vec<Event> = Vec::new();
        let mut whole: Vec<Event> = Vec::new();
        let mut n = 0u64;
        let mut cells = DayCells::default();
        let mut head = Vec::with_capacity(96);
        for d in a..b {
            let date = self.first_date + chrono::Days::new(u64::from(self.days.day(d)));
            cells.date.clear();
            cells.date.extend_from_slice(date.to_string().as_bytes());
            cells.weekday = timing::weekday_abbrev(date);
            for &i in self.days.patients(d) {
                let e = &self.roster.entries[i as usize];
                let texts = &self.texts[e.arm as usize];
                self.day_events(i, date, &mut events, &mut whole);
                // Every event of a patient-day shares its date, so its study day too.
                let Some(first) = events.first() else {
                    continue;
                };
                cells.study_day = first.study_day;
                cells.weight.clear();
                write_decimal(&mut cells.weight, e.weight_kg.decimal());
                cells.site = self.roster.site(e).unwrap_or_default().as_bytes();
                // The leading cells every row of the patient-day shares, written once.
                head.clear();
                texts.head.write_head(&mut head, &e.id, &cells);
                for ev in &events {
                    out.extend_from_slice(&head);
                    texts.get(ev).write_row(&mut out, &cells, ev);
                    n += 1;
                }
            }
        }
        (out, n)
    }

    /// The dates from `from` to `to` (both included; `None`: no bound) that have events,
    /// each with the patients who have one that day (indices into the roster's entries, in
    /// patient-id order).
    pub fn days_between(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> impl Iterator<Item = (NaiveDate, &[u32])> + '_ {
        (0..self.days.len())
            .map(|k| {
                let date = self.first_date + chrono::Days::new(u64::from(self.days.day(k)));
                (date, self.days.patients(k))
            })
            .skip_while(move |(d, _)| from.is_some_and(|f| *d < f))
            .take_while(move |(d, _)| to.is_none_or(|t| *d <= t))
    }

    /// Each of patient `i`'s events on a site calendar as (scheduled date, flags), in
    /// calendar order, without expanding doses; `None` without a site calendar.
    pub fn placed_flags(&self, i: u32) -> Option<impl Iterator<Item = (NaiveDate, Flags)> + '_> {
        let start = self.roster.entries[i as usize].start;
        self.placement(i).map(move |p| {
            p.iter().map(move |s| {
                let date = timing::shift_days(start, s.study_day() - 1)
                    .expect("checked when the cohort was built");
                (date, s.flags())
            })
        })
    }

    /// Patient `i`'s full calendar into `out` (cleared first).
    pub fn expand(&self, i: u32, out: &mut Vec<Event>) {
        let e = &self.roster.entries[i as usize];
        let pl;
        let mut how = Expand::new(e.weight_kg, e.start)
            .doses(self.known_doses(i))
            .placed(self.placement(i));
        if let Some(log) = self.log {
            pl = log.patient(i);
            how = how.record(&pl, log.as_of);
        }
        self.plans[e.arm as usize]
            .expand(&how, out)
            .expect("checked when the cohort was built");
    }

    /// Patient `i`'s events on `date` into `events`; `whole` is room for their whole
    /// calendar, for a record whose amounts make the day's running totals depend on it.
    fn day_events(&self, i: u32, date: NaiveDate, events: &mut Vec<Event>, whole: &mut Vec<Event>) {
        let e = &self.roster.entries[i as usize];
        let placement = self.placement(i);
        let pl;
        let mut how = Expand::new(e.weight_kg, e.start)
            .doses(self.known_doses(i))
            .placed(placement);
        if let Some(log) = self.log {
            pl = log.patient(i);
            // A held dose is in no running total: the totals of the day's plan would
            // count it.
            let held = placement.is_some_and(|p| p.iter().any(PlacedSlot::is_held));
            if pl.changes_amounts() || held {
                // The running totals depend on the whole record: that day's events of
                // the whole calendar.
                self.expand(i, whole);
                events.clear();
                events.extend(whole.iter().filter(|ev| ev.date == date));
                return;
            }
            how = how.record(&pl, log.as_of);
        }
        self.plans[e.arm as usize]
            .expand_on(&how, date, events)
            .expect("checked when the cohort was built");
    }

    /// Patient `i` (an index into the roster's entries), their arm's index and their
    /// full calendar.
    pub fn calendar(&self, i: u32) -> (Patient, usize, Vec<Event>) {
        let mut events = Vec::new();
        self.expand(i, &mut events);
        let arm = self.roster.entries[i as usize].arm as usize;
        (self.patient(i), arm, events)
    }
}

/// One slice of the id order indexed: its (day, patient) pairs, problems and rows.
#[derive(Default)]
struct Slice {
    pairs: Vec<(u32, u32)>,
    problems: Vec<Problem>,
    rows: u64,
}

/// Whom a schedule that cannot be made is said of.
#[derive(Debug, Clone, Copy)]
enum Blame<'p> {
    /// The patient's line of this roster.
    Roster(&'p Path),
    /// One patient given by flags: this scenario, and the flag at fault.
    Flags(&'p Path),
}

impl Blame<'_> {
    /// The roster file a cohort names its patients' lines by (none for flags).
    fn roster_path(&self) -> &Path {
        match self {
            Blame::Roster(p) => p,
            Blame::Flags(_) => Path::new(""),
        }
    }

    /// Patient `e`'s schedule cannot be made.
    fn problem(&self, e: &roster::Entry, err: schedule::ScheduleError) -> Problem {
        use schedule::ScheduleError;
        match self {
            Blame::Roster(path) => roster::schedule_problem(path, e, err),
            Blame::Flags(scenario) => {
                let flag = match err {
                    ScheduleError::Weight(_)
                    | ScheduleError::AboveMaximum { .. }
                    | ScheduleError::RoundsToZero { .. } => "--weight",
                    ScheduleError::DateOutOfRange(_) => "--start",
                    ScheduleError::AtRecordedWeight { .. } => "--log",
                };
                Problem::new(scenario, err.to_string()).field(flag)
            }
        }
    }
}

/// Each patient's dose of each component (`width` a patient, indexed like the roster's
/// entries), in exact arithmetic, once: the index and every date of the stream expand
/// from them.
fn patient_doses(trial: &Trial, plans: &[Plan], roster: &Roster) -> (Vec<Option<f64>>, usize) {
    let width = trial
        .arms
        .iter()
        .map(|a| a.components.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut doses = vec![None; roster.entries.len() * width];
    doses
        .par_chunks_mut(width)
        .zip(roster.entries.par_iter())
        .for_each(|(slot, e)| {
            for (s, d) in slot
                .iter_mut()
                .zip(plans[e.arm as usize].component_doses(e.weight_kg))
            {
                *s = d;
            }
        });
    (doses, width)
}

/// Gives each patient whose recorded dates differ from their placement (or, off a site
/// calendar, from the plan) a placement of their own, re-projected from the record, and
/// appended to the shared ones.
fn reproject(
    plans: &[Plan],
    roster: &Roster,
    calendars: &[Option<&SiteCalendar>],
    log: &Log,
    (placed, ranges, placement_of): (&mut Vec<PlacedSlot>, &mut Vec<(u32, u32)>, &mut Vec<u32>),
) -> Vec<Problem> {
    let shared = |i: u32| -> Option<&[PlacedSlot]> {
        match placement_of.get(i as usize) {
            Some(&p) if p != NOT_PLACED => {
                let (a, b) = ranges[p as usize];
                Some(&placed[a as usize..b as usize])
            }
            _ => None,
        }
    };
    let made: Vec<(u32, Result<schedule::Placement, Problem>)> = (0..roster.entries.len() as u32)
        .into_par_iter()
        .filter_map(|i| {
            let pl = log.patient(i);
            if pl.is_empty() {
                return None;
            }
            let e = &roster.entries[i as usize];
            let plan = &plans[e.arm as usize];
            let fixes = plan.fixes(e.start, shared(i), &pl);
            if fixes.is_empty() {
                return None;
            }
            let cal = e
                .site
                .and_then(|s| calendars.get(usize::from(s)).copied().flatten());
            let placed = plan
                .place_on(e.start, cal, &fixes)
                .map_err(|err| crate::record::schedule_problem(&log.path, &e.id, &pl, &err));
            Some((i, placed))
        })
        .collect();
    let mut problems = Vec::new();
    let mut own = Vec::with_capacity(made.len());
    for (i, p) in made {
        match p {
            Ok(p) => own.push((i, p)),
            Err(p) => problems.push(p),
        }
    }
    if own.is_empty() {
        return problems;
    }
    if placement_of.is_empty() {
        placement_of.resize(roster.entries.len(), NOT_PLACED);
    }
    for (i, p) in own {
        let a = placed.len() as u32;
        placed.extend_from_slice(p.slots());
        ranges.push((a, placed.len() as u32));
        placement_of[i as usize] = ranges.len() as u32 - 1;
    }
    problems
}

/// Each distinct (arm, site, start date) of the patients on a site calendar placed once,
/// and each patient's index into those placements. A placement that cannot be made (a
/// date past 9999) leaves its patients unplaced: expanding them reports the error.
fn place_patients(
    plans: &[Plan],
    roster: &Roster,
    calendars: &[Option<&SiteCalendar>],
) -> (Vec<PlacedSlot>, Vec<(u32, u32)>, Vec<u32>) {
    let key = |e: &roster::Entry| {
        let site = e.site?;
        calendars.get(usize::from(site)).copied().flatten()?;
        Some((e.start, e.arm, site))
    };
    // The distinct keys: through a table of every (arm, site, start) when the start dates
    // are dense, as a real roster's are; by sorting when they are not.
    let (lo, hi) = roster.entries.iter().filter(|e| key(e).is_some()).fold(
        (None::<NaiveDate>, None::<NaiveDate>),
        |(lo, hi), e| {
            (
                Some(lo.map_or(e.start, |l| l.min(e.start))),
                Some(hi.map_or(e.start, |h| h.max(e.start))),
            )
        },
    );
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return (Vec::new(), Vec::new(), Vec::new());
    };
    let span = (hi - lo).num_days() as usize + 1;
    let cells = plans.len() * calendars.len() * span;
    let dense = cells <= 4 * roster.entries.len() + 4096;
    let cell = |(start, arm, site): (NaiveDate, u16, u16)| {
        (usize::from(arm) * calendars.len() + usize::from(site)) * span
            + (start - lo).num_days() as usize
    };
    // In start-date order: the stream meets patients roughly in that order, so their
    // placements are read from one stretch of memory.
    let keys: Vec<(NaiveDate, u16, u16)> = if dense {
        let mut used = vec![false; cells];
        for k in roster.entries.iter().filter_map(key) {
            used[cell(k)] = true;
        }
        let mut keys = Vec::new();
        for d in 0..span {
            for arm in 0..plans.len() {
                for site in 0..calendars.len() {
                    let k = (lo + chrono::Days::new(d as u64), arm as u16, site as u16);
                    if used[cell(k)] {
                        keys.push(k);
                    }
                }
            }
        }
        keys
    } else {
        let mut keys: Vec<(NaiveDate, u16, u16)> = roster.entries.iter().filter_map(key).collect();
        keys.par_sort_unstable();
        keys.dedup();
        keys
    };
    let placed: Vec<Option<schedule::Placement>> = keys
        .par_iter()
        .map(|&(start, arm, site)| {
            let cal = calendars[usize::from(site)].expect("keys have calendars");
            plans[arm as usize].placement(start, cal).ok()
        })
        .collect();
    let (ids, ranges, arena) = arena(placed);
    let id_of_cell: Vec<u32> = if dense {
        let mut v = vec![NOT_PLACED; cells];
        for (k, id) in keys.iter().zip(&ids) {
            v[cell(*k)] = *id;
        }
        v
    } else {
        Vec::new()
    };
    let of = roster
        .entries
        .par_iter()
        .map(|e| match key(e) {
            Some(k) if dense => id_of_cell[cell(k)],
            Some(k) => ids[keys.binary_search(&k).expect("every key was placed")],
            None => NOT_PLACED,
        })
        .collect();
    (arena, ranges, of)
}

/// The placements made, one after another (`Placement` `k` is `arena[ranges[k]]`), and
/// each key's index into them (`NOT_PLACED` for a key whose placement failed).
#[allow(clippy::type_complexity)]
fn arena(placed: Vec<Option<schedule::Placement>>) -> (Vec<u32>, Vec<(u32, u32)>, Vec<PlacedSlot>) {
    let mut ids = Vec::with_capacity(placed.len());
    let mut ranges = Vec::new();
    let mut arena: Vec<PlacedSlot> = Vec::new();
    for p in placed {
        match p {
            Some(p) => {
                ids.push(ranges.len() as u32);
                let a = arena.len() as u32;
                arena.extend_from_slice(p.slots());
                ranges.push((a, arena.len() as u32));
            }
            None => ids.push(NOT_PLACED),
        }
    }
    (ids, ranges, arena)
}

/// The patients with events on each date, for the dates that have any: memory follows
/// the number of patient-days, never the span of the dates (one start date typed as 0207
/// in a roster of 2027 dates costs nothing extra).
#[derive(Debug, Default, PartialEq)]
struct DayIndex {
    /// The dates that have events, as days after the cohort's first date, ascending.
    days: Vec<u32>,
    /// `patients[starts[k]..starts[k + 1]]` have events on `days[k]`, in id order.
    starts: Vec<usize>,
    patients: Vec<u32>,
}

impl DayIndex {
    /// Groups (day, patient) pairs by day, keeping each day's patients in the order they
    /// come (the lists are slices of the id order, in order). A counting sort when the
    /// dates are dense, as they are in a real roster; a stable sort when they are sparse.
    fn build(lists: Vec<Vec<(u32, u32)>>) -> Self {
        let total: usize = lists.iter().map(Vec::len).sum();
        let Some(max) = lists.iter().flatten().map(|p| p.0).max() else {
            return DayIndex::default();
        };
        let span = max as usize + 1;
        let mut patients = Vec::with_capacity(total);
        let mut days = Vec::new();
        let mut starts = Vec::new();
        if span <= 4 * total + 1024 {
            let mut at = vec![0usize; span + 1];
            for &(d, _) in lists.iter().flatten() {
                at[d as usize + 1] += 1;
            }
            for d in 0..span {
                if at[d + 1] > 0 {
                    days.push(d as u32);
                    starts.push(at[d]);
                }
                at[d + 1] += at[d];
            }
            patients.resize(total, 0);
            for list in lists {
                for (d, i) in list {
                    patients[at[d as usize]] = i;
                    at[d as usize] += 1;
                }
            }
        } else {
            let mut all: Vec<(u32, u32)> = lists.into_iter().flatten().collect();
            all.par_sort_by_key(|p| p.0); // stable: id order kept within a day
            for (k, &(d, i)) in all.iter().enumerate() {
                if days.last() != Some(&d) {
                    days.push(d);
                    starts.push(k);
                }
                patients.push(i);
            }
        }
        starts.push(total);
        DayIndex {
            days,
            starts,
            patients,
        }
    }

    /// How many dates have events.
    fn len(&self) -> usize {
        self.days.len()
    }

    /// The `k`th date with events, as days after the first date.
    fn day(&self, k: usize) -> u32 {
        self.days[k]
    }

    /// The patients with events on the `k`th date, in id order.
    fn patients(&self, k: usize) -> &[u32] {
        &self.patients[self.starts[k]..self.starts[k + 1]]
    }
}

fn write_parts(out: &mut (dyn Write + Send), parts: &[(Vec<u8>, u64)]) -> io::Result<u64> {
    let mut n = 0;
    for (bytes, rows) in parts {
        out.write_all(bytes)?;
        n += rows;
    }
    Ok(n)
}

/// The cells of a patient-day, formatted once for all its rows.
#[derive(Default)]
struct DayCells<'a> {
    date: Vec<u8>,
    weekday: &'static str,
    study_day: i64,
    weight: Vec<u8>,
    site: &'a [u8],
}

/// A row of one arm item's occurrence as pieces: runs of text that are the same for every
/// patient (with their commas), and the cells to fill in per patient, day or event. Built
/// from [`Column::ALL`] and the calendar's own [`export::Row::cell`], so the pharmacy
/// stream and the calendar CSV cannot drift apart and a new column needs no code here
/// unless it changes per patient or per event.
#[derive(Debug, Clone)]
struct SlotText {
    /// Each fixed run of text (with its commas), then the cell that follows it, if any.
    segments: Vec<(Box<[u8]>, Option<Column>)>,
    unit: Unit,
}

/// The cells after the head that change per patient or per row, in file order. The stream
/// writes them in straight-line code ([`SlotText::write_row`]: one indirect jump a cell
/// costs a third of the stream's time in mispredicted branches), so a new per-row column
/// goes here too; `the_row_cells_are_the_per_row_columns` checks this list against
/// [`Column::ALL`].
const ROW_CELLS: [Column; 15] = [
    Column::OrderInDay,
    Column::WeightKg,
    Column::Dose,
    Column::CumulativeDose,
    Column::VolumeMl,
    Column::WindowStart,
    Column::WindowEnd,
    Column::AssumedValues,
    Column::Site,
    Column::PlannedDate,
    Column::ShiftDays,
    Column::Flags,
    Column::Status,
    Column::PlannedAmount,
    Column::Deviation,
];

/// How many leading columns are the same for every row of a patient-day (patient id,
/// trial, arm, date, study day, weekday): the stream writes them once per patient-day.
fn head_columns() -> usize {
    Column::ALL
        .iter()
        .take_while(|c| matches!(c.scope(), Scope::Patient | Scope::Day | Scope::Arm))
        .count()
}

impl SlotText {
    /// The segments of columns `cols` (a run of [`Column::ALL`] starting at index `from`).
    fn new(row: &export::Row, unit: Unit, from: usize, cols: &[Column]) -> Self {
        let mut segments = Vec::new();
        let mut text = String::new();
        for (i, &col) in cols.iter().enumerate() {
            if i + from > 0 {
                text.push(',');
            }
            if matches!(col.scope(), Scope::Slot | Scope::Arm) {
                text.push_str(&cell(&row.cell(col)));
            } else {
                segments.push((std::mem::take(&mut text).into_bytes().into(), Some(col)));
            }
        }
        if from + cols.len() == Column::ALL.len() {
            text.push('\n');
        }
        segments.push((text.into_bytes().into(), None));
        SlotText { segments, unit }
    }

    /// Appends one row after its head: the fixed runs and the [`ROW_CELLS`] between them.
    fn write_row(&self, out: &mut Vec<u8>, day: &DayCells, ev: &Event) {
        let [
            (t0, _),
            (t1, _),
            (t2, _),
            (t3, _),
            (t4, _),
            (t5, _),
            (t6, _),
            (t7, _),
            (t8, _),
            (t9, _),
            (t10, _),
            (t11, _),
            (t12, _),
            (t13, _),
            (t14, _),
            (t15, _),
        ] = &self.segments[..]
        else {
            unreachable!("a row has ROW_CELLS.len() + 1 runs of text")
        };
        debug_assert_eq!(self.segments.len(), ROW_CELLS.len() + 1);
        // Room for the whole row at once, so the copies below never grow the buffer.
        out.reserve(320 + t7.len() + day.site.len());
        let mut num = itoa::Buffer::new();
        put(out, t0);
        out.extend_from_slice(num.format(ev.order_in_day).as_bytes());
        put(out, t1);
        match ev.weight {
            Some(w) => write_decimal(out, w.decimal()),
            None => out.extend_from_slice(&day.weight),
        }
        put(out, t2);
        amount(out, ev.dose, self.unit, &mut num);
        put(out, t3);
        amount(out, ev.cumulative_dose, self.unit, &mut num);
        put(out, t4);
        if let Some(v) = ev.volume_ml {
            out.extend_from_slice(trim_decimals(v, 2).as_bytes());
        }
        put(out, t5);
        if let Some((ws, we)) = ev.window {
            out.extend_from_slice(ws.to_string().as_bytes());
            put(out, t6);
            out.extend_from_slice(we.to_string().as_bytes());
        } else {
            put(out, t6);
        }
        put(out, t7);
        ev.assumed.write_to(out);
        put(out, t8);
        out.extend_from_slice(day.site);
        put(out, t9);
        if ev.planned == ev.date {
            // Unmoved, as every event without a calendar is.
            out.extend_from_slice(&day.date);
            put(out, t10);
            out.push(b'0');
        } else {
            write_date(out, ev.planned);
            put(out, t10);
            out.extend_from_slice(num.format((ev.date - ev.planned).num_days()).as_bytes());
        }
        put(out, t11);
        ev.flags.write_to(out);
        put(out, t12);
        out.extend_from_slice(ev.status.as_str().as_bytes());
        put(out, t13);
        amount(out, ev.planned_amount, self.unit, &mut num);
        put(out, t14);
        if !ev.deviation.is_empty() {
            ev.deviation.write_to(out);
        }
        put(out, t15);
    }

    /// Appends the head of a patient-day (its `segments` and [`SlotText::cell`]s). The cells
    /// written are digits, dates and safe ids, none of which the CSV writer would quote.
    fn write_head(&self, out: &mut Vec<u8>, id: &str, day: &DayCells) {
        for (text, col) in &self.segments {
            put(out, text);
            if let Some(col) = col {
                self.cell(out, *col, id, day);
            }
        }
    }

    /// A cell of the head (the leading columns every row of a patient-day shares).
    fn cell(&self, out: &mut Vec<u8>, col: Column, id: &str, day: &DayCells) {
        let mut num = itoa::Buffer::new();
        match col {
            Column::PatientId => out.extend_from_slice(id.as_bytes()),
            Column::Date => out.extend_from_slice(&day.date),
            Column::StudyDay => out.extend_from_slice(num.format(day.study_day).as_bytes()),
            Column::Weekday => out.extend_from_slice(day.weekday.as_bytes()),
            other => unreachable!("{other:?} is not a head column"),
        }
    }
}

/// Appends a fixed run of text: most are a lone comma, which a push writes cheaper than a
/// copy.
#[inline]
fn put(out: &mut Vec<u8>, text: &[u8]) {
    match text.len() {
        0 => {}
        1 => out.push(text[0]),
        _ => out.extend_from_slice(text),
    }
}

fn amount(out: &mut Vec<u8>, v: Option<f64>, unit: Unit, num: &mut itoa::Buffer) {
    if let Some(v) = v {
        match unit {
            Unit::Cells => out.extend_from_slice(num.format(v as u64).as_bytes()),
            Unit::Ml => out.extend_from_slice(trim_decimals(v, 2).as_bytes()),
        }
    }
}

/// A date as YYYY-MM-DD (its `Display`, for years 1 to 9999), without the formatting
/// machinery: the stream writes one for every moved event.
fn write_date(out: &mut Vec<u8>, d: NaiveDate) {
    use chrono::Datelike;
    let (y, m, day) = (d.year() as u32, d.month(), d.day());
    debug_assert!((1..=9999).contains(&y));
    out.extend_from_slice(&[
        b'0' + (y / 1000 % 10) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
        b'-',
        b'0' + (m / 10) as u8,
        b'0' + (m % 10) as u8,
        b'-',
        b'0' + (day / 10) as u8,
        b'0' + (day % 10) as u8,
    ]);
}

/// A decimal as its `Display` prints it (62.5, 70, 50.00000125, 62.50: the digits as
/// entered), without the allocation, from its integer mantissa and scale.
fn write_decimal(out: &mut Vec<u8>, d: rust_decimal::Decimal) {
    let m = d.mantissa();
    if m < 0 {
        out.push(b'-');
    }
    let mut buf = itoa::Buffer::new();
    let digits = match u64::try_from(m.unsigned_abs()) {
        Ok(small) => buf.format(small),
        Err(_) => buf.format(m.unsigned_abs()),
    }
    .as_bytes();
    let places = d.scale() as usize;
    if places == 0 {
        out.extend_from_slice(digits);
        return;
    }
    if digits.len() <= places {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', places - digits.len()));
        out.extend_from_slice(digits);
    } else {
        let split = digits.len() - places;
        out.extend_from_slice(&digits[..split]);
        out.push(b'.');
        out.extend_from_slice(&digits[split..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (day, patient) pair of an index, in its order.
    fn pairs(ix: &DayIndex) -> Vec<(u32, u32)> {
        (0..ix.len())
            .flat_map(|k| ix.patients(k).iter().map(move |&i| (ix.day(k), i)))
            .collect()
    }

    #[test]
    fn dense_and_sparse_dates_are_grouped_alike() {
        // Two slices of the id order; patient 2 starts 3,000,000 days after the rest.
        let lists = vec![
            vec![(0, 0), (3, 0), (3, 1), (7, 1)],
            vec![(3, 2), (3_000_000, 2), (0, 3)],
        ];
        let sparse = DayIndex::build(lists.clone());
        assert_eq!(sparse.days, vec![0, 3, 7, 3_000_000]);
        assert_eq!(
            pairs(&sparse),
            vec![
                (0, 0),
                (0, 3),
                (3, 0),
                (3, 1),
                (3, 2),
                (7, 1),
                (3_000_000, 2)
            ]
        );
        // Without the far date the counting sort runs; it groups the same way.
        let dense: Vec<Vec<(u32, u32)>> = lists
            .into_iter()
            .map(|l| l.into_iter().filter(|p| p.0 < 1000).collect())
            .collect();
        let dense = DayIndex::build(dense);
        assert_eq!(
            pairs(&dense),
            vec![(0, 0), (0, 3), (3, 0), (3, 1), (3, 2), (7, 1)]
        );
        assert_eq!(DayIndex::build(vec![vec![], vec![]]).len(), 0);
    }

    #[test]
    fn the_row_cells_are_the_per_row_columns() {
        let per_row: Vec<Column> = Column::ALL[head_columns()..]
            .iter()
            .copied()
            .filter(|c| !matches!(c.scope(), Scope::Slot | Scope::Arm))
            .collect();
        assert_eq!(
            per_row, ROW_CELLS,
            "update ROW_CELLS and SlotText::write_row"
        );
    }

    #[test]
    fn dates_print_as_chrono_prints_them() {
        for d in [
            "0001-01-01",
            "0999-12-31",
            "2026-10-08",
            "9999-12-31",
            "2028-02-29",
        ] {
            let date = crate::timing::parse_date(d).unwrap();
            let mut out = Vec::new();
            write_date(&mut out, date);
            assert_eq!(String::from_utf8(out).unwrap(), date.to_string());
        }
    }

    #[test]
    fn weights_print_as_the_calendar_prints_them() {
        for w in [
            "62.5",
            "70",
            "35.2",
            "104.99",
            "61.125",
            "0.5",
            "3.0",
            "57.333333",
            "349.9",
            "0.001",
            "0.05",
            "62.50",
            "50.00000125",
            "63.123456789123456789",
            "007",
        ] {
            let d: rust_decimal::Decimal = w.parse().unwrap();
            let mut out = Vec::new();
            write_decimal(&mut out, d);
            assert_eq!(String::from_utf8(out).unwrap(), d.to_string(), "{w}");
        }
    }
}

struct ArmTexts {
    /// The leading cells of every row ([`head_columns`]).
    head: SlotText,
    /// Per component, per occurrence (1-based occurrence n at index n - 1).
    components: Vec<Vec<SlotText>>,
    visits: Vec<SlotText>,
    background: Vec<SlotText>,
}

/// The event of a slot for a probe patient, and its product's unit: the cells
/// [`ArmTexts`] keeps of every row of that slot.
fn probe_event(
    plan: &Plan,
    origin: Origin,
    occurrence: u32,
    occurrences: u32,
    probe: &Patient,
) -> (Event, Unit) {
    let (trial, arm) = (plan.trial, plan.arm);
    let mut ev = Event {
        date: probe.start,
        planned: probe.start,
        flags: crate::moves::Flags::NONE,
        study_day: 1,
        order_in_day: 1,
        kind: EventKind::Visit,
        origin,
        occurrence,
        occurrences,
        dose: None,
        dose_per_kg: None,
        cumulative_dose: None,
        volume_ml: None,
        window: None,
        after: None,
        assumed: Assumed::NONE,
        status: crate::record::Status::Planned,
        planned_amount: None,
        deviation: crate::record::Deviation::default(),
        weight: None,
    };
    let mut unit = Unit::Cells;
    match origin {
        Origin::Component(c) => {
            let comp = &arm.components[c];
            ev.kind = match comp.kind {
                ComponentKind::CellInfusion => EventKind::CellInfusion,
                ComponentKind::PlasmaExchange => EventKind::PlasmaExchange,
            };
            unit = trial.products[comp.product].unit;
            (ev.dose, ev.dose_per_kg) = schedule::dose_amount(&comp.dose, unit, probe.weight_kg);
            ev.after = comp
                .timing
                .after
                .as_ref()
                .filter(|a| a.applies_to(occurrence))
                .map(|a| a.component);
        }
        Origin::Visit(_) => ev.kind = EventKind::Visit,
        Origin::Background(_) => ev.kind = EventKind::Background,
    }
    (ev, unit)
}

impl ArmTexts {
    fn new(plan: &Plan) -> Self {
        let (trial, arm) = (plan.trial, plan.arm);
        let probe = Patient {
            id: "x".into(),
            weight_kg: Kg::from_f64(1.0),
            start: NaiveDate::default(),
            site: None,
        };
        let lead = head_columns();
        let mut head = None;
        let mut text = |origin: Origin, occurrence: u32, occurrences: u32| -> SlotText {
            let (ev, unit) = probe_event(plan, origin, occurrence, occurrences, &probe);
            let row = export::row(trial, arm, &probe, &ev);
            // The head's fixed cells (trial and arm) are the same in every row of the arm.
            head.get_or_insert_with(|| SlotText::new(&row, unit, 0, &Column::ALL[..lead]));
            SlotText::new(&row, unit, lead, &Column::ALL[lead..])
        };
        let components = arm
            .components
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let n = c.timing.rule.count();
                (1..=n).map(|k| text(Origin::Component(i), k, n)).collect()
            })
            .collect();
        let visits = (0..arm.visits.len())
            .map(|i| text(Origin::Visit(i), 1, 1))
            .collect();
        let background = (0..arm.background.len())
            .map(|i| text(Origin::Background(i), 1, 1))
            .collect();
        ArmTexts {
            // An arm with nothing scheduled has no rows, so no head is ever written.
            head: head.unwrap_or(SlotText {
                segments: Vec::new(),
                unit: Unit::Cells,
            }),
            components,
            visits,
            background,
        }
    }

    fn get(&self, ev: &Event) -> &SlotText {
        match ev.origin {
            Origin::Component(i) => &self.components[i][ev.occurrence as usize - 1],
            Origin::Visit(i) => &self.visits[i],
            Origin::Background(i) => &self.background[i],
        }
    }
}

/// One CSV cell, quoted by the csv crate exactly as its writer quotes it.
fn cell(text: &str) -> String {
    if text.is_empty() {
        // Alone in a record the csv crate would write `""`; inside one it writes nothing.
        return String::new();
    }
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    // A whole record, so that a quoted cell is closed; then drop the record's line end.
    w.write_record([text]).expect("writing to memory");
    let mut s =
        String::from_utf8(w.into_inner().expect("writing to memory")).expect("utf-8 in, utf-8 out");
    s.pop();
    s
}

#[cfg(test)]
mod cell_tests {
    use super::cell;

    #[test]
    fn cells_are_quoted_and_closed_as_the_csv_writer_does() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell(""), "");
        assert_eq!(cell("a, b"), "\"a, b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
