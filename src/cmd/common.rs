//! What several commands share: the checks of `--out`, the warnings a cohort and a
//! forecast print, and the progress bars. A command takes these from here, never from
//! another command.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use dosesim::bundle;
use dosesim::cohort::Cohort;
use dosesim::error::InputError;
use dosesim::forecast::{self, ForecastPlan, Model};
use dosesim::manifest;
use dosesim::model::Trial;
use dosesim::roster;

/// `--out` must be a folder (or not exist yet): a file there is bad input.
pub fn check_out(out: &std::path::Path) -> Result<(), dosesim::error::InputError> {
    if let Some(p) = dosesim::write::broken_link(out, "--out") {
        return Err(dosesim::error::InputError::one(p));
    }
    if out.exists() && !out.is_dir() {
        return Err(dosesim::error::InputError::one(
            dosesim::error::Problem::flag(
                "--out",
                format!("{} is a file: name a folder", out.display()),
            ),
        ));
    }
    Ok(())
}

/// Writes a [`bundle::check`]ed cohort's bundle with a progress bar; the caller holds
/// `out`'s lock.
pub fn write(
    cohort: &Cohort,
    out: &std::path::Path,
    checked: &bundle::Checked,
    remind: Option<dosesim::export::ics::Remind>,
    forecast: Option<maud::Markup>,
) -> Result<bundle::Summary> {
    let bar = progress(cohort.rows(), &cohort.trial.id);
    let summary = bundle::write_cohort(
        cohort,
        out,
        checked,
        remind,
        &|n| bar.set_position(n),
        forecast,
    );
    bar.finish_and_clear();
    summary
}

/// How much a command says on stderr: `--quiet` (counts only), the ordinary amount (each
/// assumed value in a line, the first few of a list), `--verbose` (everything, in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// The run's [`Verbosity`], set once from the command line before a command runs.
static VERBOSITY: AtomicU8 = AtomicU8::new(1);

/// Sets how much the commands say ([`Verbosity`]).
pub fn set_verbosity(v: Verbosity) {
    VERBOSITY.store(v as u8, Ordering::Relaxed);
}

/// How much the commands say.
pub fn verbosity() -> Verbosity {
    match VERBOSITY.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        1 => Verbosity::Normal,
        _ => Verbosity::Verbose,
    }
}

/// How many warnings of a list (closed days, roster or record rows) are printed one by one
/// without `--verbose`.
pub const FEW: usize = 3;

/// How many of a list are named one by one at this verbosity.
fn shown() -> usize {
    match verbosity() {
        Verbosity::Quiet => 0,
        Verbosity::Normal => FEW,
        Verbosity::Verbose => usize::MAX,
    }
}

/// What `--verbose` adds to a list cut short.
const MORE: &str = "--verbose lists every one";

/// Prints a list of like warnings, `total` in all (`lines` may hold only the first of
/// them): the first few and a count, every one with `--verbose`, the count alone with
/// `--quiet`. `counted` says `n` of them in words ("NCT01724398: 21 events left on days
/// their site is closed").
pub fn warn_list(lines: &[String], total: usize, counted: impl Fn(usize) -> String) {
    if total == 0 {
        return;
    }
    let shown = shown().min(lines.len());
    for w in &lines[..shown] {
        eprintln!("warning: {w}");
    }
    if shown == 0 {
        eprintln!("warning: {} ({MORE})", counted(total));
    } else if total > shown {
        eprintln!(
            "warning: ... and {} more ({} in all; {MORE})",
            total - shown,
            counted(total)
        );
    }
}

/// Prints the first `limit` of `lines` as warnings, then how many more there are (at
/// the run's [`Verbosity`]: `noun` and `rest` say them, "patient" "outside the usual
/// weight range").
fn warn_some(lines: &[String], noun: &str, rest: &str) {
    warn_list(lines, lines.len(), |n| {
        format!("{} {rest}", dosesim::format::plural(n as u64, noun))
    });
}

/// Loads what `load` asks for; the record's warnings (weights outside the usual range,
/// big weight changes) are gathered as it is read and printed as a list ([`warn_list`]).
pub fn load(load: dosesim::inputs::Load) -> Result<dosesim::inputs::Inputs, InputError> {
    let read = std::cell::RefCell::new(Vec::new());
    let inputs = load.load(&|w| read.borrow_mut().push(w.to_string()));
    warn_record(&read.into_inner());
    inputs
}

/// The inputs of a command that expands a roster: the scenario, the roster and its record
/// from CSV files (`--roster`, `--log`, `--as-of`) or the database (`--db`, else
/// `DOSESIM_DB`), and the roster's site calendars; every problem of every input at once.
/// `keep_record_copy`: whether the run writes a folder that keeps a copy of the record
/// (`cohort`), which the record is then read for.
pub fn roster_inputs(
    scenario: &Path,
    roster: Option<&Path>,
    record: &crate::cli::RecordArgs,
    db: &crate::cli::DbArg,
    calendars: &Path,
    keep_record_copy: bool,
) -> Result<dosesim::inputs::Inputs, InputError> {
    let db = database(
        db,
        &[
            ("--roster", roster.is_some()),
            ("--log", record.log.is_some()),
        ],
    )?;
    if roster.is_none() && db.is_none() {
        return Err(no_roster());
    }
    let mut how = dosesim::inputs::Load::named(scenario).database(db.as_ref());
    if !keep_record_copy {
        how = how.without_record_copy();
    }
    load(
        how.roster(roster)
            .calendars(calendars)
            .record(record.log.as_deref(), record.as_of),
    )
}

/// The database a command reads its roster and record from: `--db`, else `DOSESIM_DB`
/// when no file is named (`files`: each CSV flag and whether it was given). `--db` with
/// `--roster` or `--log` is refused: one source of truth per run (a file named on the
/// command line is taken over `DOSESIM_DB`, which is a default).
pub fn database(
    db: &crate::cli::DbArg,
    files: &[(&str, bool)],
) -> Result<Option<dosesim::db::Location>, InputError> {
    let named: Vec<&str> = files.iter().filter(|f| f.1).map(|f| f.0).collect();
    if db.db.is_some() && !named.is_empty() {
        return Err(InputError::one(dosesim::error::Problem::flag(
            "--db",
            format!(
                "the database holds the trial's roster and record, and {} names a file too: give one or the other, so that the run has one source of truth (to bring a file into the database, import it)",
                named.join(" and ")
            ),
        )));
    }
    if !named.is_empty() {
        // DOSESIM_DB names a database, and the command line files: the files are read, and
        // the record with them only if --log names one. Said, so that nobody takes a plan
        // without the record for one with it.
        if let Some(env) = dosesim::db::Location::given(None) {
            let record = if files.iter().any(|f| f.0 == "--log" && f.1) {
                ""
            } else {
                ", with no administration record (no --log): every dose shows as planned"
            };
            eprintln!(
                "note: {} names the database {}, but {} names a file: this run reads the files{record}",
                dosesim::db::ENV,
                env.label(),
                named.join(" and ")
            );
        }
        return Ok(None);
    }
    Ok(dosesim::db::Location::given(db.db.as_deref()))
}

/// No roster: `--roster` or `--db` (or `DOSESIM_DB`) names one.
pub fn no_roster() -> InputError {
    InputError::one(dosesim::error::Problem::flag(
        "--roster",
        "give the roster, a CSV file (--roster FILE), or the database that holds it (--db PATH, or the DOSESIM_DB environment variable)",
    ))
}

/// The administration record's warnings, as a list ([`warn_list`]).
pub fn warn_record(lines: &[String]) {
    warn_some(lines, "warning", "about the administration record");
}

/// Warnings for a roster: ids a spreadsheet would change and unusual weights (the first
/// few of each), and the assumed values its arms use, each once.
pub fn warn(cohort: &Cohort) -> Vec<dosesim::model::Assumption> {
    let (trial, roster) = (cohort.trial, cohort.roster);
    warn_roster(roster);
    let mut used = vec![false; trial.arms.len()];
    for e in &roster.entries {
        used[e.arm as usize] = true;
    }
    warn_assumed(cohort, &used)
}

/// The assumed values of the arms marked in `used`, each once, on stderr: theirs, their
/// closed-day rules when a site calendar placed the cohort, and the record's.
pub fn warn_assumed(cohort: &Cohort, used: &[bool]) -> Vec<dosesim::model::Assumption> {
    let trial = cohort.trial;
    let arms = super::arms_used(trial, used);
    let mut assumed = trial.assumptions_of(arms.iter().copied());
    if cohort.on_any_calendar() {
        assumed.extend(trial.closed_day_assumptions_of(arms.iter().copied()));
    }
    if let Some(log) = cohort.log {
        assumed.extend(trial.record_assumptions_of(arms, log.has_weights()));
    }
    super::warn_assumptions(trial, &assumed);
    assumed
}

/// A roster's own warnings: ids a spreadsheet would change, unusual weights and far-off
/// start dates (the first few of each).
pub fn warn_roster(roster: &dosesim::roster::Roster) {
    warn_some(
        &roster.id_warnings,
        "patient id",
        "that a spreadsheet would read as numbers, dates or booleans",
    );
    warn_some(
        &roster.warnings,
        "patient",
        "outside the usual weight range",
    );
    warn_some(
        &roster.date_warnings,
        "start date",
        "years away from the rest of the roster",
    );
    for w in &roster.site_warnings {
        eprintln!("warning: {w}");
    }
}

/// What a site calendar did to a run's events, gathered for a few lines on stderr.
#[derive(Default)]
pub struct PlacedNotes {
    /// The first events left on a day their site is closed, with where they come from.
    closed: Vec<String>,
    /// How many there are in all.
    closed_count: usize,
    /// How many events moved off a closed day.
    moved: usize,
    /// Per site, the first scheduled date its calendar does not cover, what it covers and
    /// what it knows of the dates it does not.
    uncovered: std::collections::BTreeMap<String, (chrono::NaiveDate, String, String)>,
}

impl PlacedNotes {
    /// Counts one patient's events on site `cal` from their (date, flags).
    pub fn count(
        &mut self,
        cal: &dosesim::site::SiteCalendar,
        placed: impl Iterator<Item = (chrono::NaiveDate, dosesim::moves::Flags)>,
    ) {
        use dosesim::moves::Flags;
        for (date, flags) in placed {
            if flags.contains(Flags::PROVISIONAL) {
                match self.uncovered.get_mut(&cal.id) {
                    Some((first, _, _)) => *first = (*first).min(date),
                    None => {
                        self.uncovered.insert(
                            cal.id.clone(),
                            (date, cal.coverage_summary(), cal.uncovered_note()),
                        );
                    }
                }
            }
            if flags.contains(Flags::SHIFTED) {
                self.moved += 1;
            }
            if flags.contains(Flags::CLOSED_DAY) {
                self.closed_count += 1;
            }
        }
    }

    /// Names the events of one patient (`who`: "r.csv:4: patient P2") left on days site
    /// `cal` is closed, while fewer than [`shown`] are named ([`PlacedNotes::print`] prints
    /// them).
    pub fn name(
        &mut self,
        cal: &dosesim::site::SiteCalendar,
        who: &str,
        arm: &dosesim::model::Arm,
        events: &[dosesim::schedule::Event],
    ) {
        use dosesim::moves::Flags;
        use dosesim::schedule::Origin;
        for ev in events {
            if !ev.flags.contains(Flags::CLOSED_DAY)
                || self.closed.len() >= shown()
                || !to_come(ev.status)
            {
                continue;
            }
            let what = match ev.origin {
                Origin::Component(c) => format!(
                    "{} {}/{}",
                    arm.components[c].name, ev.occurrence, ev.occurrences
                ),
                Origin::Visit(v) => format!("visit '{}'", arm.visits[v].name),
                Origin::Background(_) => continue,
            };
            let why = cal.day(ev.date).closure().unwrap_or_default();
            self.closed.push(format!(
                "{who}: {what} stays on {} {}, a day site {} is closed ({why}): {}",
                dosesim::timing::weekday_abbrev(ev.date),
                ev.date,
                cal.id,
                kept_because(ev.flags)
            ));
        }
    }

    /// Counts and names the events of one patient's calendar.
    pub fn add(
        &mut self,
        cal: &dosesim::site::SiteCalendar,
        who: &str,
        arm: &dosesim::model::Arm,
        events: &[dosesim::schedule::Event],
    ) {
        self.count(cal, to_come_days(events));
        self.name(cal, who, arm, events);
    }

    /// Prints the notes of `whose` events (a trial id, or none for one patient): events
    /// left on closed days (the first few, see [`warn_list`]), how many moved, and per site
    /// the first date its calendar does not cover (sites alike in one line, but with
    /// `--verbose`).
    pub fn print(&self, whose: Option<&str>) {
        let whose = whose.map(|w| format!("{w}: ")).unwrap_or_default();
        warn_list(&self.closed, self.closed_count, |n| {
            format!(
                "{whose}{} left on days their site is closed",
                count(n, "event")
            )
        });
        if self.moved > 0 {
            eprintln!(
                "note: {whose}{} moved off days their site is closed (their planned_date and flags columns say which)",
                count(self.moved, "event")
            );
        }
        self.print_uncovered();
    }

    /// Per site, the first date its calendar does not cover; sites whose calendars cover
    /// the same dates and say the same of the rest in one line (each in its own with
    /// `--verbose`).
    fn print_uncovered(&self) {
        let mut alike: std::collections::BTreeMap<(&str, &str), Vec<(&str, chrono::NaiveDate)>> =
            Default::default();
        for (site, (first, covers, note)) in &self.uncovered {
            alike
                .entry((covers, note))
                .or_default()
                .push((site, *first));
        }
        for ((covers, note), sites) in alike {
            if sites.len() == 1 || verbosity() == Verbosity::Verbose {
                for (site, first) in sites {
                    eprintln!(
                        "warning: site {site}: its calendar does not cover {first} (it covers {covers}): {note}, so those events are flagged provisional"
                    );
                }
                continue;
            }
            let names: Vec<String> = sites
                .iter()
                .map(|(s, d)| format!("{s} (from {d})"))
                .collect();
            eprintln!(
                "warning: sites {}: their calendars do not cover those dates (each covers {covers}): for each, {note}, so those events are flagged provisional",
                names.join(", ")
            );
        }
    }
}

/// "1 event", "3 events".
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The (date, flags) of the doses and visits still to come in `events`: what a site has
/// to arrange (background treatment is not the site's to place).
fn to_come_days(
    events: &[dosesim::schedule::Event],
) -> impl Iterator<Item = (chrono::NaiveDate, dosesim::moves::Flags)> + '_ {
    events
        .iter()
        .filter(|e| e.kind != dosesim::schedule::EventKind::Background)
        .filter(|e| to_come(e.status))
        .map(|e| (e.date, e.flags))
}

/// Whether an event is still to come, so that a site has to arrange it: planned, due or
/// held (not given, missed or cancelled).
fn to_come(s: dosesim::record::Status) -> bool {
    use dosesim::record::Status;
    matches!(s, Status::Planned | Status::Due | Status::Held)
}

/// Why an event flagged `closed_day` was not moved.
fn kept_because(flags: dosesim::moves::Flags) -> &'static str {
    use dosesim::moves::Flags;
    if flags.contains(Flags::MIN_GAP) {
        "every open day in its window would break a minimum gap, its own or that of the dose given with it (min_gap)"
    } else if flags.contains(Flags::NO_OPEN_DAY_IN_WINDOW) {
        "no open day in its window (no_open_day_in_window)"
    } else {
        "the scenario gives it no rule to move (on_closed_day = keep)"
    }
}

/// [`PlacedNotes`] for one patient's calendar, printed.
pub fn warn_placed(
    cal: &dosesim::site::SiteCalendar,
    patient: &str,
    arm: &dosesim::model::Arm,
    events: &[dosesim::schedule::Event],
) {
    let mut notes = PlacedNotes::default();
    notes.add(cal, &format!("patient {patient}"), arm, events);
    notes.print(None);
}

/// Warnings for the patients on a site calendar: each event left on a day its site is
/// closed (the first few with their roster lines, then how many in all), how many moved,
/// and once per site the first date its calendar does not cover (provisional).
pub fn warn_closed_days(cohort: &Cohort) {
    if !cohort.on_any_calendar() {
        return;
    }
    use rayon::prelude::*;
    let roster = cohort.roster;
    // Slices of the id order in parallel, then joined in order: the first lines shown are
    // the first in id order.
    let parts: Vec<PlacedNotes> = roster
        .by_id
        .par_chunks(16_384)
        .map(|ids| {
            let mut notes = PlacedNotes::default();
            let mut events = Vec::new();
            for &i in ids {
                let (Some(cal), Some(placed)) = (cohort.site_calendar(i), cohort.placed_flags(i))
                else {
                    continue;
                };
                let before = notes.closed_count;
                // A patient with records: only what is still to come is the site's to
                // arrange (a dose given, missed or cancelled is not), so their events are
                // counted with their statuses; the rest from the shared placement.
                let recorded = cohort.log.is_some_and(|l| !l.patient(i).is_empty());
                if recorded {
                    cohort.expand(i, &mut events);
                    notes.count(cal, to_come_days(&events));
                } else {
                    notes.count(cal, placed);
                }
                // Expanded and named only while lines are still shown: a million patients
                // need no million names.
                if notes.closed_count > before && notes.closed.len() < shown() {
                    let e = &roster.entries[i as usize];
                    if !recorded {
                        cohort.expand(i, &mut events);
                    }
                    notes.name(
                        cal,
                        &patient_at(cohort, e),
                        &cohort.trial.arms[e.arm as usize],
                        &events,
                    );
                }
            }
            notes
        })
        .collect();
    let mut notes = PlacedNotes::default();
    for p in parts {
        let room = shown().saturating_sub(notes.closed.len());
        notes.closed.extend(p.closed.into_iter().take(room));
        notes.closed_count += p.closed_count;
        notes.moved += p.moved;
        for (site, (first, covers, note)) in p.uncovered {
            let f = notes.uncovered.entry(site).or_insert((first, covers, note));
            f.0 = f.0.min(first);
        }
    }
    notes.print(Some(&cohort.trial.id));
}

/// Says assumed values on stderr, each once (`whose`: the trial id; `see`: where their
/// reasons are written): with `--verbose` each with its reason; ordinarily a line naming
/// each, or, `grouped`, one line naming them all (a forecast plan's); with `--quiet`, how
/// many.
pub fn say_assumed(
    whose: &str,
    assumptions: &[dosesim::model::Assumption],
    see: &str,
    grouped: bool,
) {
    if assumptions.is_empty() {
        return;
    }
    match verbosity() {
        Verbosity::Verbose => {
            for a in assumptions {
                eprintln!(
                    "warning: {whose}: {} is assumed, not stated in the registry record: {}",
                    a.what, a.reason
                );
            }
        }
        Verbosity::Normal if grouped => {
            let named: Vec<&str> = assumptions.iter().map(|a| a.what.as_str()).collect();
            let shared = shared_words(&named);
            let rest: Vec<&str> = named.iter().map(|n| &n[shared.len()..]).collect();
            eprintln!("assumed: {whose}: {shared}{} ({see})", rest.join(", "));
        }
        Verbosity::Normal => {
            for a in assumptions {
                eprintln!("assumed: {whose}: {} ({see})", a.what);
            }
        }
        Verbosity::Quiet if grouped => {
            let named: Vec<&str> = assumptions.iter().map(|a| a.what.as_str()).collect();
            let head = match shared_words(&named).trim_end() {
                "" => String::new(),
                h => format!("{h}: "),
            };
            eprintln!(
                "assumed: {whose}: {head}{} ({see})",
                dosesim::format::plural(assumptions.len() as u64, "value")
            );
        }
        Verbosity::Quiet => eprintln!(
            "assumed: {whose}: {}, not stated in the registry record ({see})",
            dosesim::format::plural(assumptions.len() as u64, "value")
        ),
    }
}

/// The words every one of `names` starts with, up to and with a space ("forecast plan "
/// of "forecast plan start" and "forecast plan allocation"), or nothing.
fn shared_words<'n>(names: &[&'n str]) -> &'n str {
    let Some(first) = names.first() else {
        return "";
    };
    let mut end = 0;
    for (i, c) in first.char_indices() {
        if names.iter().any(|n| !n[i..].starts_with(c)) {
            break;
        }
        if c == ' ' {
            end = i + 1;
        }
    }
    if names.len() == 1 { "" } else { &first[..end] }
}

/// A progress bar on stderr when stderr is a terminal, and none otherwise.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    progress_of(len, what, "rows")
}

/// A progress bar of `len` `unit`s (rows, replicates) on stderr when it is a terminal.
pub fn progress_of(len: u64, what: &str, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:40}}] {{human_pos}}/{{human_len}} {unit} ({{eta}} left)"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Refuses to replace the forecast folder `dir` when one of the files dosesim made in it
/// is an input of this run.
pub fn check_forecast_replaced(dir: &Path, inputs: &[manifest::Input]) -> Result<(), InputError> {
    if let Some(old) = manifest::Manifest::read(dir)? {
        manifest::check_replaced(dir, &old.files, inputs, "--out").map_err(InputError::one)?;
    }
    Ok(())
}

/// The assumed values the forecast uses: the plan's, then those of the arms it gives
/// doses to (and their closed-day rules where a site has a calendar), on stderr, each once.
/// `said`: those already warned about (by the cohort of the same run), left out.
pub fn warn_forecast(
    trial: &Trial,
    plan: &ForecastPlan,
    model: &Model,
    roster: Option<&roster::Roster>,
    said: &[dosesim::model::Assumption],
) {
    let mut used = vec![false; trial.arms.len()];
    for (a, _) in &plan.allocation.ratio {
        used[*a] = true;
    }
    for e in roster.iter().flat_map(|r| &r.entries) {
        used[e.arm as usize] = true;
    }
    let arms = super::arms_used(trial, &used);
    let mut assumed = trial.assumptions_of(arms.iter().copied());
    if plan.sites.iter().any(|s| s.calendar.is_some()) {
        assumed.extend(trial.closed_day_assumptions_of(arms.iter().copied()));
    }
    assumed.retain(|a| {
        !said
            .iter()
            .any(|s| s.what == a.what && s.reason == a.reason)
    });
    super::warn_assumptions(trial, &assumed);
    say_assumed(
        &trial.id,
        &plan.assumptions,
        &format!("see {}", plan.file.display()),
        true,
    );
    // Weights the scenario would flag on a roster are flagged here too.
    if let dosesim::forecast::plan::WeightModel::Normal { min, max, .. } = plan.weight {
        let w = &trial.weight;
        if min < w.usual_min_kg || max > w.usual_max_kg {
            eprintln!(
                "warning: {}: the plan's weights run {}-{} kg, beyond the scenario's usual range of {}-{} kg: check [weight_kg]",
                trial.id,
                dosesim::format::shown(min),
                dosesim::format::shown(max),
                dosesim::format::shown(w.usual_min_kg),
                dosesim::format::shown(w.usual_max_kg)
            );
        }
    }
    warn_short_calendars(trial, plan, model);
    let missing: Vec<&str> = model
        .products
        .iter()
        .filter(|&&p| trial.products[p].unit == dosesim::model::Unit::Cells)
        .filter(|p| !plan.products.contains_key(p))
        .map(|&p| trial.products[p].id.as_str())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "note: the plan gives no [product.ID] lot_cells and capacity_cells_per_week for {}: no lots or capacity for it",
            missing.join(", ")
        );
    }
}

/// The site calendars of a plan that stop before the horizon's end, and so know no
/// holidays after it: calendars alike (same coverage, same knowledge of the rest) in one
/// line, but with `--verbose`.
fn warn_short_calendars(trial: &Trial, plan: &ForecastPlan, model: &Model) {
    let last = model.date_of(model.weeks as i64 * 7 - 1);
    let mut alike: std::collections::BTreeMap<(String, Option<String>), Vec<&str>> =
        Default::default();
    for (id, cal) in plan
        .sites
        .iter()
        .filter_map(|s| s.calendar.as_ref())
        .filter_map(|c| model.calendar(c).map(|cal| (c, cal)))
    {
        let ids = alike
            .entry((
                cal.coverage_summary(),
                cal.expected().map(|e| e.describe().to_string()),
            ))
            .or_default();
        if !cal.covers(last) && !ids.contains(&id.as_str()) {
            ids.push(id);
        }
    }
    for ((covers, expected), ids) in alike {
        let one_by_one = if verbosity() == Verbosity::Verbose {
            ids.chunks(1).collect::<Vec<_>>()
        } else {
            ids.chunks(ids.len().max(1)).collect()
        };
        for ids in one_by_one.into_iter().filter(|i| !i.is_empty()) {
            let (its, what) = match ids {
                [id] => ("its", format!("site calendar {id} covers")),
                _ => ("their", format!("site calendars {} cover", ids.join(", "))),
            };
            let counted = match &expected {
                Some(e) => format!(
                    "those weeks count {its} closed weekdays and {e}, expected, but not the make-up working days and bridging days a year's notice adds (provisional)"
                ),
                None => format!(
                    "public holidays after {its} end are not known, so those weeks count only {its} closed weekdays (provisional)"
                ),
            };
            eprintln!(
                "warning: {}: {what} {covers}, not the whole horizon (to {last}): {counted}",
                trial.id
            );
        }
    }
}

/// Warnings for a horizon too short for the trial: enrolment not complete, or doses
/// after it (weekly.csv does not count those).
pub fn warn_horizon(f: &forecast::Forecast) {
    let s = &f.summary;
    let id = &f.model.trial.id;
    if s.reached_share < 0.95 {
        eprintln!(
            "warning: {id}: in {:.1}% of replicates fewer than {} patients have enrolled by the horizon's end ({}): lengthen horizon_weeks or check the rates",
            (1.0 - s.reached_share) * 100.0,
            f.model.plan.target_patients,
            f.model.date_of(f.model.weeks as i64 * 7 - 1)
        );
    }
    for t in s.all_sites() {
        if t.after_horizon.p("p50") > 0.0 {
            let p = &f.model.trial.products[t.product];
            eprintln!(
                "warning: {id}: half the replicates or more give {} doses after the horizon ({} at the median), which weekly.csv and monthly.csv do not count: lengthen horizon_weeks",
                p.id,
                forecast::short(dosesim::format::Amount {
                    value: t.after_horizon.p("p50"),
                    unit: p.unit
                })
            );
        }
    }
}

/// A patient as a warning names them: the roster's file and line, and the id.
pub fn patient_at(cohort: &Cohort, e: &dosesim::roster::Entry) -> String {
    format!(
        "{}:{}: patient {}",
        cohort.roster_path.display(),
        e.line,
        e.id
    )
}

#[cfg(test)]
mod tests {
    use super::shared_words;

    #[test]
    fn a_plans_values_share_their_leading_words() {
        assert_eq!(
            shared_words(&["forecast plan start", "forecast plan allocation"]),
            "forecast plan "
        );
        // Only whole words: "sites[1].rate" and "sites[2].rate" share none.
        assert_eq!(shared_words(&["sites[1].rate", "sites[2].rate"]), "");
        assert_eq!(shared_words(&["forecast plan start"]), "");
        assert_eq!(shared_words(&[]), "");
        assert_eq!(shared_words(&["a b", "a"]), "");
    }
}
