//! `dosesim prep`: the preparation sheet of a roster for a date, a range or an ISO week,
//! as a terminal table, CSV or a printable HTML page ([`dosesim::sheet`]).

use anyhow::Result;
use chrono::NaiveDate;

use crate::cli::{PrepArgs, SheetFormat};
use dosesim::cohort::Cohort;
use dosesim::error::{InputError, Problem};
use dosesim::export::{sheet, sheet_html};
use dosesim::format::{plural, shown};
use dosesim::inputs::Load;
use dosesim::model::{Trial, Unit};
use dosesim::sheet::Request;

pub fn run(args: PrepArgs) -> Result<()> {
    let (format, first, last) = check_flags(&args)?;
    let check = |trial: &Trial, roster: Option<&dosesim::roster::Roster>| {
        let mut problems = Vec::new();
        if let Err(e) = concentrations(trial, &args.concentrations) {
            problems.extend(e.problems);
        }
        if let (Some(site), Some(roster)) = (&args.site, roster) {
            problems.extend(unknown_site(site, roster, &args.roster));
        }
        problems
    };
    let inputs = super::common::load(
        Load::named(&args.scenario)
            .roster(Some(&args.roster))
            .check(&check)
            .calendars(&args.calendars)
            .record(args.record.log.as_deref(), args.record.as_of),
    )?;
    let trial = &inputs.trial;
    let concentrations = concentrations(trial, &args.concentrations)?;
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
    write_sheet(&args, format, &cohort, &made)?;
    print_summary(trial, &made);
    Ok(())
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
    InputError::check(problems)?;
    Ok((format, first, last))
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
    let _lock = match &args.out {
        Some(out) => {
            reads(args)
                .inputs(&inputs)
                .check_file(out, "--out")
                .map_err(InputError::one)?;
            dosesim::write::lock_out_file(out)?
        }
        None => Vec::new(),
    };
    let bytes = match format {
        SheetFormat::Table => sheet::table(made).into_bytes(),
        SheetFormat::Csv => {
            let mut buf = Vec::new();
            sheet::write_csv(made, &mut buf)?;
            buf
        }
        SheetFormat::Html => sheet_html::render(made, &inputs).into_bytes(),
    };
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
    super::guard::Reads::new()
        .scenario(&args.scenario)
        .file("roster", &args.roster)
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
        let who = format!(
            "{}:{}: patient {}",
            cohort.roster_path.display(),
            e.line,
            e.id
        );
        notes.add(cal, &who, &cohort.trial.arms[e.arm as usize], &events);
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
fn concentrations(trial: &Trial, given: &[String]) -> Result<Vec<Option<f64>>, InputError> {
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
