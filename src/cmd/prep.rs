//! `dosesim prep`: the preparation sheet of a roster for a date, a range or an ISO week,
//! as a terminal table, CSV or a printable HTML page ([`dosesim::sheet`]). With several
//! trials, or none (every scenario in scenarios/), and `--site`: one sheet for the site
//! across the trials, each with its demo roster and record ([`dosesim::sheet::Combined`]).

use anyhow::Result;
use chrono::NaiveDate;

use crate::cli::{PrepArgs, SheetFormat};
use dosesim::cohort::Cohort;
use dosesim::error::{InputError, Problem};
use dosesim::export::{sheet, sheet_html};
use dosesim::format::{plural, shown};
use dosesim::inputs::Load;
use dosesim::model::{Trial, Unit};
use dosesim::sheet::{Combined, Request};

pub fn run(args: PrepArgs) -> Result<()> {
    match args.scenarios.as_slice() {
        [one] => run_one(&args, one),
        _ => run_site(&args),
    }
}

/// One trial's sheet, from the roster given.
fn run_one(args: &PrepArgs, scenario: &std::path::Path) -> Result<()> {
    let (format, first, last) = check_flags(args)?;
    let db = super::common::database(
        &args.db,
        &[
            ("--roster", args.roster.is_some()),
            ("--log", args.record.log.is_some()),
        ],
    )?;
    let from_db = db
        .as_ref()
        .map(|d| dosesim::db::books::label(&d.label(), "roster", &scenario.display().to_string()));
    let Some(roster_path) = args.roster.as_deref().or(from_db.as_deref()) else {
        return Err(InputError::one(Problem::flag(
            "--roster",
            format!(
                "give the roster of the patients to prepare for, as --roster scenarios/rosters/{}.csv (with several trials and --site, each trial's roster in rosters/ beside its scenario is used)",
                scenario.file_stem().map_or_else(|| "TRIAL".into(), |s| s.to_string_lossy().to_uppercase())
            ),
        ))
        .into());
    };
    let check = |trial: &Trial, roster: Option<&dosesim::roster::Roster>| {
        let mut problems = Vec::new();
        if let Err(e) = concentrations(trial, &args.concentrations, true) {
            problems.extend(e.problems);
        }
        if let (Some(site), Some(roster)) = (&args.site, roster) {
            problems.extend(unknown_site(site, roster, roster_path));
        }
        problems
    };
    let inputs = super::common::load(
        Load::named(scenario)
            .database(db.as_ref())
            .without_record_copy()
            .roster(args.roster.as_deref())
            .check(&check)
            .calendars(&args.calendars)
            .record(args.record.log.as_deref(), args.record.as_of),
    )?;
    let trial = &inputs.trial;
    let concentrations = concentrations(trial, &args.concentrations, true)?;
    let cohort = Cohort::of(&inputs)?;
    super::common::warn_roster(cohort.roster);
    let request = Request {
        first,
        last,
        site: args.site.clone(),
        concentrations,
    };
    let made = dosesim::sheet::build(&cohort, &request);
    warn_sheet(&cohort, &made);
    warn_closed(&cohort, &request);
    warn_made(trial, &made, first);
    write_sheet(args, format, &cohort, &made)?;
    print_summary(trial, &made);
    Ok(())
}

/// One sheet for a site across several trials (or every one in scenarios/), each read
/// with its demo roster and record; every problem of every trial at once.
fn run_site(args: &PrepArgs) -> Result<()> {
    let (format, first, last) = check_flags(args)?;
    let files = super::scenario_files(&args.scenarios)?;
    let mut problems = Vec::new();
    let loaded = load_trials(args, &files, &mut problems);
    problems.extend(site_problems(args, &loaded));
    InputError::check(problems)?;
    let mut cohorts = Vec::new();
    let mut problems = Vec::new();
    for inputs in &loaded {
        match Cohort::of(inputs) {
            Ok(c) => cohorts.push(c),
            Err(e) => problems.extend(e.problems),
        }
    }
    InputError::check(problems)?;
    let mut sheets = Vec::new();
    for cohort in &cohorts {
        super::common::warn_roster(cohort.roster);
        let request = Request {
            first,
            last,
            site: args.site.clone(),
            concentrations: concentrations(cohort.trial, &args.concentrations, false)?,
        };
        let made = dosesim::sheet::build(cohort, &request);
        warn_sheet(cohort, &made);
        warn_closed(cohort, &request);
        warn_made(cohort.trial, &made, first);
        sheets.push(made);
    }
    let combined = Combined { sheets };
    write_combined(args, format, &cohorts, &combined)?;
    for s in &combined.sheets {
        print_summary(s.trial, s);
    }
    print_site_summary(&combined);
    Ok(())
}

/// Each trial's scenario with its demo roster, site calendars and record (when there is
/// one); the problems of those that could not be read go to `problems`.
fn load_trials(
    args: &PrepArgs,
    files: &[std::path::PathBuf],
    problems: &mut Vec<Problem>,
) -> Vec<dosesim::inputs::Inputs> {
    let check = |trial: &Trial, _: Option<&dosesim::roster::Roster>| {
        concentrations(trial, &args.concentrations, false)
            .err()
            .map(|e| e.problems)
            .unwrap_or_default()
    };
    let db = match super::common::database(&args.db, &[("--log", args.record.log.is_some())]) {
        Ok(db) => db,
        Err(e) => {
            problems.extend(e.problems);
            return Vec::new();
        }
    };
    let mut loaded = Vec::new();
    for f in files {
        match super::common::load(
            Load::file(f)
                .database(db.as_ref())
                .without_record_copy()
                .demo_roster()
                .calendars(&args.calendars)
                .demo_record()
                .check(&check),
        ) {
            Ok(i) => loaded.push(i),
            Err(e) => problems.extend(e.problems),
        }
    }
    loaded
}

/// What only the trials together can say: `--site` names a site of none of their
/// rosters; a `--concentration` names a product of none of them.
fn site_problems(args: &PrepArgs, loaded: &[dosesim::inputs::Inputs]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let rosters: Vec<_> = loaded.iter().filter_map(|i| i.roster.as_ref()).collect();
    if let Some(site) = &args.site
        && !rosters
            .iter()
            .any(|r| r.roster.sites.iter().any(|s| &**s == site))
    {
        let mut known: Vec<&str> = rosters
            .iter()
            .flat_map(|r| r.roster.sites.iter().map(|s| &**s))
            .collect();
        known.sort_unstable();
        known.dedup();
        problems.push(Problem::flag(
            "--site",
            format!(
                "no patient of these trials' rosters is at site '{site}'; their sites: {}",
                known.join(", ")
            ),
        ));
    }
    for g in &args.concentrations {
        let Some((id, _)) = g.split_once('=') else {
            continue;
        };
        let mut ids: Vec<&str> = loaded
            .iter()
            .flat_map(|i| i.trial.products.iter().map(|p| p.id.as_str()))
            .collect();
        if !ids.contains(&id.trim()) {
            ids.sort_unstable();
            ids.dedup();
            problems.push(Problem::flag(
                "--concentration",
                format!(
                    "'{g}': no trial here has a product '{}'; their products: {}",
                    id.trim(),
                    ids.join(", ")
                ),
            ));
        }
    }
    problems
}

/// The site's sheet across trials in its format, to `--out` or stdout; every trial's
/// inputs are checked against `--out` first.
fn write_combined(
    args: &PrepArgs,
    format: SheetFormat,
    cohorts: &[Cohort],
    made: &Combined,
) -> Result<()> {
    let mut inputs: Vec<dosesim::manifest::Input> = Vec::new();
    for c in cohorts {
        for i in dosesim::bundle::inputs_of(c)? {
            if !inputs.iter().any(|x| x.role == i.role && x.path == i.path) {
                inputs.push(i);
            }
        }
    }
    write_out(args, &inputs, |inputs| {
        Ok(match format {
            SheetFormat::Table => sheet::table_combined(made).into_bytes(),
            SheetFormat::Csv => {
                let mut buf = Vec::new();
                sheet::write_csv_combined(made, &mut buf)?;
                buf
            }
            SheetFormat::Html => sheet_html::render_combined(made, inputs).into_bytes(),
        })
    })
}

/// The line on stderr that says what the site's sheet holds, across the trials.
fn print_site_summary(made: &Combined) {
    let days = made.days();
    let dates = days
        .iter()
        .filter(|d| d.has_doses())
        .map(|d| d.date)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    eprintln!(
        "{} across {}: {} to prepare on {} ({})",
        made.sheets.first().map_or_else(String::new, |s| s
            .request
            .site
            .clone()
            .unwrap_or_default()),
        plural(made.sheets.len() as u64, "trial"),
        plural(made.doses() as u64, "dose"),
        plural(dates as u64, "date"),
        made.sheets.first().map(|s| s.scope()).unwrap_or_default()
    );
}

/// The flags alone, every problem at once: the format and `--out`, and the dates (`--date`,
/// `--week`, or `--from` and `--to`) as a first and last date.
#[allow(clippy::type_complexity)]
fn check_flags(
    args: &PrepArgs,
) -> Result<(SheetFormat, Option<NaiveDate>, Option<NaiveDate>), InputError> {
    let mut problems = Vec::new();
    let format = match super::output_format(
        args.format,
        args.out.as_deref(),
        &SheetFormat::EXTENSIONS,
        SheetFormat::Table,
        |f| {
            use clap::ValueEnum;
            f.to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_string())
        },
    ) {
        Ok(f) => f,
        Err(p) => {
            problems.push(p);
            SheetFormat::Table
        }
    };
    if let Some(out) = &args.out
        && let Err(p) = dosesim::write::check_out_file(out, "--out")
            .and_then(|()| reads(args).check_file(out, "--out"))
    {
        problems.push(p);
    }
    let (first, last) = match (args.date, args.week) {
        (Some(d), _) => (Some(d), Some(d)),
        (None, Some(monday)) => (Some(monday), monday.checked_add_days(chrono::Days::new(6))),
        (None, None) => (args.from, args.to),
    };
    if let (Some(a), Some(b)) = (first, last)
        && a > b
    {
        problems.push(Problem::flag("--to", format!("{b} is before --from {a}")));
    }
    if args.scenarios.len() != 1 {
        problems.extend(several_trials_flags(args));
    }
    InputError::check(problems)?;
    Ok((format, first, last))
}

/// The flags a sheet across several trials (or every one in scenarios/) needs and
/// refuses: a site, and no roster or record of one trial.
fn several_trials_flags(args: &PrepArgs) -> Vec<Problem> {
    let which = if args.scenarios.is_empty() {
        "With no trial named, prep makes one sheet for one site across every trial in scenarios/"
    } else {
        "With several trials, prep makes one sheet for one site across them"
    };
    let mut problems = Vec::new();
    if args.site.is_none() {
        problems.push(Problem::flag(
            "--site",
            format!(
                "{which}: say which site, as --site GZ-SYSU (or name one trial, with its --roster)"
            ),
        ));
    }
    if args.roster.is_some() {
        problems.push(Problem::flag(
            "--roster",
            format!("{which}, each trial with its roster in rosters/ beside its scenario: to use your own roster, prepare one trial at a time"),
        ));
    }
    if args.record.log.is_some() {
        problems.push(Problem::flag(
            "--log",
            format!("{which}, each trial with its record in logs/ beside its scenario, when there is one: to use another record, prepare one trial at a time"),
        ));
    }
    problems
}

/// Warnings for what the sheet shows: products with no concentration known, a record
/// older than the sheet, doses held or overdue before its range.
fn warn_made(trial: &Trial, made: &dosesim::sheet::Sheet, first: Option<NaiveDate>) {
    let mut unknown: Vec<usize> = made
        .days
        .iter()
        .flat_map(|d| &d.blocks)
        .filter(|b| b.volume_ml.is_none())
        .map(|b| b.product)
        .collect();
    unknown.sort_unstable();
    unknown.dedup();
    for p in unknown {
        let id = &trial.products[p].id;
        eprintln!(
            "warning: {}: {id}: no concentration known, so no volume to draw: give the lot's with --concentration {id}=CELLS_PER_ML",
            trial.id
        );
    }
    if let (Some(as_of), Some(first)) = (made.as_of, first)
        && (first - as_of).num_days() > STALE_RECORD_DAYS
    {
        eprintln!(
            "warning: {}: the administration record is complete to {as_of}, {} days before this sheet's first date: the doses due since are taken as given as planned in the cumulative doses (record them, or check --as-of)",
            trial.id,
            (first - as_of).num_days()
        );
    }
    if let Some((n, first)) = made.held_before {
        eprintln!(
            "warning: {}: {} held before this range (the first on {first}) still {} for a decision: record each given on a date, or missed (`--from {first}` lists them)",
            trial.id,
            plural(n as u64, "dose"),
            if n == 1 { "waits" } else { "wait" },
        );
    }
    if let Some((n, first)) = made.overdue_before {
        eprintln!(
            "warning: {}: {} due before this range (the first on {first}) not recorded as given: `--from {first}` lists them",
            trial.id,
            plural(n as u64, "dose"),
        );
    }
}

/// The sheet in its format, to `--out` or stdout; the files the inputs led to are checked
/// first.
fn write_sheet(
    args: &PrepArgs,
    format: SheetFormat,
    cohort: &Cohort,
    made: &dosesim::sheet::Sheet,
) -> Result<()> {
    // The files the inputs led to (a site calendar's holiday files), before anything is
    // written; then the folder is locked, as long as the sheet takes to write.
    let inputs = dosesim::bundle::inputs_of(cohort)?;
    write_out(args, &inputs, |inputs| {
        Ok(match format {
            SheetFormat::Table => sheet::table(made).into_bytes(),
            SheetFormat::Csv => {
                let mut buf = Vec::new();
                sheet::write_csv(made, &mut buf)?;
                buf
            }
            SheetFormat::Html => sheet_html::render(made, inputs).into_bytes(),
        })
    })
}

/// Checks `--out` against every file the sheet was made from, locks it, and writes the
/// sheet `render` makes there (or to stdout without `--out`).
fn write_out(
    args: &PrepArgs,
    inputs: &[dosesim::manifest::Input],
    render: impl FnOnce(&[dosesim::manifest::Input]) -> Result<Vec<u8>>,
) -> Result<()> {
    let _lock = match &args.out {
        Some(out) => {
            reads(args)
                .inputs(inputs)
                .check_file(out, "--out")
                .map_err(InputError::one)?;
            dosesim::write::lock_out_file(out)?
        }
        None => Vec::new(),
    };
    let bytes = render(inputs)?;
    match &args.out {
        Some(path) => dosesim::write::atomic(path, &bytes)?,
        None => dosesim::write::stdout(&bytes)?,
    }
    Ok(())
}

/// The line on stderr that says what the sheet holds.
fn print_summary(trial: &Trial, made: &dosesim::sheet::Sheet) {
    let dates = made
        .days
        .iter()
        .filter(|d| !d.blocks.is_empty())
        .map(|d| d.date)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let held = match made.held() {
        0 => String::new(),
        n => format!(
            "; {} held, not to prepare until a decision is recorded",
            plural(n as u64, "dose")
        ),
    };
    eprintln!(
        "{}: {} to prepare on {} ({}){held}",
        trial.id,
        plural(made.doses() as u64, "dose"),
        plural(dates as u64, "date"),
        made.scope()
    );
}

/// `--site` names no site of the roster: a problem listing the roster's sites.
fn unknown_site(
    site: &str,
    roster: &dosesim::roster::Roster,
    path: &std::path::Path,
) -> Option<Problem> {
    if roster.sites.iter().any(|s| &**s == site) {
        return None;
    }
    let known = if roster.sites.is_empty() {
        "the roster names no site".to_string()
    } else {
        let names: Vec<&str> = roster.sites.iter().map(|s| &**s).collect();
        format!("the roster's sites: {}", names.join(", "))
    };
    Some(Problem::flag(
        "--site",
        format!(
            "no patient of {} is at site '{site}'; {known}",
            path.display()
        ),
    ))
}

/// What a sheet is made from, for refusing an `--out` that would replace it.
fn reads(args: &PrepArgs) -> super::guard::Reads {
    args.scenarios
        .iter()
        .fold(super::guard::Reads::new(), |r, s| r.scenario(s))
        .maybe("roster", args.roster.as_deref())
        .record(&args.record)
        .calendars(&args.calendars)
}

/// Warnings for the doses and visits of the sheet's range and site left on days their
/// site is closed (the first ten, with their roster lines), as `pharmacy` and `cohort`
/// give them for the whole schedule ([`super::common::PlacedNotes`]).
fn warn_closed(cohort: &Cohort, request: &Request) {
    if !cohort.on_any_calendar() {
        return;
    }
    let in_range =
        |d: NaiveDate| request.first.is_none_or(|f| d >= f) && request.last.is_none_or(|l| d <= l);
    let mut patients: Vec<u32> = cohort
        .days_between(request.first, request.last)
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    patients.sort_unstable_by_key(|&i| &cohort.roster.entries[i as usize].id);
    patients.dedup();
    let mut notes = super::common::PlacedNotes::default();
    let mut events = Vec::new();
    for i in patients {
        let e = &cohort.roster.entries[i as usize];
        let site = cohort.roster.site(e).unwrap_or_default();
        let Some(cal) = cohort.site_calendar(i) else {
            continue;
        };
        if request.site.as_deref().is_some_and(|s| s != site) {
            continue;
        }
        cohort.expand(i, &mut events);
        events.retain(|ev| in_range(ev.date));
        notes.add(
            cal,
            &super::common::patient_at(cohort, e),
            &cohort.trial.arms[e.arm as usize],
            &events,
        );
    }
    notes.print(Some(&cohort.trial.id));
}

/// A record this many days older than a sheet's first date is warned about.
const STALE_RECORD_DAYS: i64 = 7;

/// The assumed values behind the sheet's doses, each once, on stderr: those of the arms on
/// it (see [`super::common::warn_assumed`]).
fn warn_sheet(cohort: &Cohort, made: &dosesim::sheet::Sheet) {
    let trial = cohort.trial;
    let mut used = vec![false; trial.arms.len()];
    for l in made
        .days
        .iter()
        .flat_map(|d| &d.blocks)
        .flat_map(|b| &b.lines)
    {
        if let Some(k) = trial.arms.iter().position(|a| a.id == l.arm_id) {
            used[k] = true;
        }
    }
    super::common::warn_assumed(cohort, &used);
}

/// The concentrations `--concentration` takes, in cells/mL: a cell suspension for infusion
/// is far inside them, and a value outside is a typing slip (2.5 for 2.5e6) whose volumes
/// would be off by a million.
const MIN_CELLS_PER_ML: f64 = 1e4;
const MAX_CELLS_PER_ML: f64 = 1e9;

/// Each `--concentration PRODUCT=CELLS_PER_ML`, by product index; every bad one reported.
/// Not `strict` (a sheet across trials), a product the trial does not have is left to the
/// others.
fn concentrations(
    trial: &Trial,
    given: &[String],
    strict: bool,
) -> Result<Vec<Option<f64>>, InputError> {
    let mut out = vec![None; trial.products.len()];
    let mut problems = Vec::new();
    let ids: Vec<&str> = trial.products.iter().map(|p| p.id.as_str()).collect();
    for g in given {
        let flag = |m: String| Problem::flag("--concentration", format!("'{g}': {m}"));
        let Some((id, value)) = g.split_once('=') else {
            problems.push(flag(
                "write PRODUCT=CELLS_PER_ML, as uc_msc=2.5e6".to_string(),
            ));
            continue;
        };
        let Some(k) = trial.products.iter().position(|p| p.id == id.trim()) else {
            if !strict {
                continue;
            }
            problems.push(flag(format!(
                "{} has no product '{}'; its products: {}",
                trial.id,
                id.trim(),
                ids.join(", ")
            )));
            continue;
        };
        if trial.products[k].unit == Unit::Ml {
            problems.push(flag(format!(
                "{} is dosed in mL: its dose is the volume, with no concentration",
                id.trim()
            )));
            continue;
        }
        match value.trim().parse::<f64>() {
            Ok(c)
                if c.is_finite()
                    && !(MIN_CELLS_PER_ML..=MAX_CELLS_PER_ML).contains(&c)
                    && c > 0.0 =>
            {
                problems.push(flag(format!(
                    "{} cells/mL is not the concentration of a cell suspension (dosesim takes {} to {} cells/mL): was an exponent left out? 2.5e6 is 2.5 x 10⁶",
                    shown(c),
                    dosesim::format::sci(MIN_CELLS_PER_ML),
                    dosesim::format::sci(MAX_CELLS_PER_ML)
                )));
            }
            Ok(c) if c.is_finite() && c > 0.0 => {
                if out[k].is_some_and(|x| x != c) {
                    problems.push(flag(format!(
                        "{} was given another concentration already ({})",
                        id.trim(),
                        shown(out[k].unwrap_or_default())
                    )));
                }
                out[k] = Some(c);
            }
            _ => problems.push(flag(format!(
                "'{}' is not a positive number of cells/mL",
                value.trim()
            ))),
        }
    }
    InputError::check(problems)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    #[test]
    fn weeks_and_ranges_are_read_as_written() {
        let monday = crate::cli::parse_week;
        assert_eq!(
            monday("2027-W03"),
            Ok(NaiveDate::from_ymd_opt(2027, 1, 18).unwrap())
        );
        // ISO week 1 of 2027 starts on Monday 2027-01-04; week 53 of 2026 exists.
        assert_eq!(
            monday("2027-W01"),
            Ok(NaiveDate::from_ymd_opt(2027, 1, 4).unwrap())
        );
        assert_eq!(
            monday("2026-W53"),
            Ok(NaiveDate::from_ymd_opt(2026, 12, 28).unwrap())
        );
        assert!(monday("2027-W54").is_err());
        assert!(monday("2027-03").is_err());
        assert!(monday("27-W03").is_err());
    }
}
