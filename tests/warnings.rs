//! What the commands say on stderr (issue 23, items 9 and 10): each assumed value once,
//! in a line naming it; lists of like warnings cut to the first few and a count;
//! `--quiet` (counts) and `--verbose` (everything); `show` with every closed-day rule and
//! where it comes from; help for every positional argument; an unknown site's message
//! naming the site calendars there are.

use crate::common::*;

/// The stderr lines of `dosesim run` into a fresh folder, with `extra` flags.
fn run_stderr(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut args = vec!["run", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let r = run(args);
    r.expect_code(0);
    r.stderr
}

/// The full sentence an assumed value had on stderr before (now only with --verbose).
const PARAGRAPH: &str = "is assumed, not stated in the registry record:";

#[test]
fn run_says_each_assumed_value_in_a_line_and_summarises_closed_days() {
    let err = run_stderr(&[]);
    let lines: Vec<&str> = err.lines().collect();
    // 144 lines before (the issue counted 131 on an earlier main), 64 after.
    assert!(lines.len() <= 70, "{} lines:\n{err}", lines.len());
    assert!(!err.contains(PARAGRAPH), "no paragraphs:\n{err}");
    // A scenario's assumed value: one line naming it and where its reason is.
    assert!(
        lines.contains(&"assumed: NCT01724398: uc_msc minimum gap (see dosesim show NCT01724398)"),
        "{err}"
    );
    // Each once.
    for l in lines.iter().filter(|l| l.starts_with("assumed: ")) {
        assert_eq!(lines.iter().filter(|m| *m == l).count(), 1, "{l}\n{err}");
    }
    // A plan's, in one line per trial.
    let plan: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("assumed: NCT01724398: forecast plan "))
        .collect();
    assert_eq!(plan.len(), 1, "{err}");
    assert!(
        plan[0].contains("start, horizon_weeks, ")
            && plan[0].ends_with("(see scenarios/plans/nct01724398.toml)"),
        "{}",
        plan[0]
    );
    // Closed days: the first few named, then the trial's count.
    let named = lines
        .iter()
        .filter(|l| l.starts_with("warning: scenarios/rosters/NCT02812121.csv:"))
        .count();
    assert_eq!(named, 3, "{err}");
    assert!(
        lines.iter().any(|l| l.starts_with("warning: ... and ")
            && l.contains(" more (NCT02812121: ")
            && l.ends_with(
                " events left on days their site is closed in all; --verbose lists every one)"
            )),
        "{err}"
    );
    // Six site calendars alike that stop before the forecast's horizon: one line.
    let short: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("warning: NCT01573923: site calendar"))
        .collect();
    assert_eq!(short.len(), 1, "{err}");
    assert!(
        short[0].contains("site calendars BJ-302, LZ-FAH, HN-BOAO, LYG-FPH, SH-TJ, XA-323 cover"),
        "{}",
        short[0]
    );
}

/// The stderr of `dosesim cohort NCT02812121` with its demo roster, with `extra` flags.
fn cohort_stderr(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "cohort",
        "NCT02812121",
        "--roster",
        "scenarios/rosters/NCT02812121.csv",
        "--out",
        dir.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let r = run(args);
    r.expect_code(0);
    r.stderr
}

#[test]
fn verbose_says_everything_and_quiet_only_counts() {
    let normal = cohort_stderr(&[]);
    let verbose = cohort_stderr(&["--verbose"]);
    let quiet = cohort_stderr(&["--quiet"]);
    // --verbose: every assumed value with its reason, every event left on a closed day.
    assert!(
        verbose.contains("warning: NCT02812121: ucb_msc dose is assumed, not stated in the registry record: The record states no cell dose."),
        "{verbose}"
    );
    assert!(!verbose.contains("--verbose lists every one"), "{verbose}");
    let named = |err: &str| {
        err.lines()
            .filter(|l| l.starts_with("warning: scenarios/rosters/NCT02812121.csv:"))
            .count()
    };
    assert_eq!(named(&normal), 3, "{normal}");
    assert_eq!(named(&verbose), 15, "{verbose}");
    assert!(
        normal.contains("warning: ... and 12 more (NCT02812121: 15 events left on days their site is closed in all; --verbose lists every one)"),
        "{normal}"
    );
    // --quiet: counts, no value named one by one and no event.
    assert_eq!(named(&quiet), 0, "{quiet}");
    assert!(
        quiet.contains("assumed: NCT02812121: 8 values, not stated in the registry record (see dosesim show NCT02812121)"),
        "{quiet}"
    );
    assert!(
        quiet.contains("warning: NCT02812121: 15 events left on days their site is closed (--verbose lists every one)"),
        "{quiet}"
    );
    assert!(!quiet.contains("ucb_msc dose"), "{quiet}");
    let count = |s: &str| s.lines().count();
    assert!(
        count(&quiet) < count(&normal) && count(&normal) < count(&verbose),
        "quiet {}, normal {}, verbose {}",
        count(&quiet),
        count(&normal),
        count(&verbose)
    );
    // Both at once is a usage error.
    let r = run(["show", "NCT01724398", "--quiet", "--verbose"]);
    r.expect_code(2);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
}

#[test]
fn prep_names_each_assumed_value_in_a_line() {
    let r = run([
        "prep",
        "NCT01724398",
        "--roster",
        "scenarios/rosters/NCT01724398.csv",
        "--log",
        "scenarios/logs/NCT01724398.csv",
        "--week",
        "2026-W48",
    ]);
    r.expect_code(0);
    let err = &r.stderr;
    assert!(!err.contains(PARAGRAPH), "{err}");
    for what in [
        "uc_msc timing",
        "uc_msc on a closed day",
        "uc_msc dose tolerance",
        "uc_msc weight basis",
    ] {
        let line = format!("assumed: NCT01724398: {what} (see dosesim show NCT01724398)");
        assert_eq!(
            err.lines().filter(|l| *l == line).count(),
            1,
            "{line}\n{err}"
        );
    }
}

#[test]
fn a_calendar_table_on_stdout_does_not_repeat_its_assumed_values_on_stderr() {
    let r = calendar(
        "scenarios/nct01724398.toml",
        "msc-pe",
        "60",
        "2026-12-30",
        &["--site", "GZ-SYSU3"],
    );
    r.expect_code(0);
    let out = r.out();
    assert!(
        out.contains("WARNING: assumed, not stated in the registry record: uc_msc timing:"),
        "{out}"
    );
    assert!(!r.stderr.contains("uc_msc timing"), "{}", r.stderr);
    // A CSV carries no such lines: stderr names them.
    let r = calendar(
        "scenarios/nct01724398.toml",
        "msc-pe",
        "60",
        "2026-12-30",
        &["--site", "GZ-SYSU3", "--format", "csv"],
    );
    r.expect_code(0);
    assert!(
        r.stderr
            .contains("assumed: NCT01724398: uc_msc timing (see dosesim show NCT01724398)"),
        "{}",
        r.stderr
    );
}

#[test]
fn show_gives_every_closed_day_rule_and_the_weight_basis_with_their_provenance() {
    let r = run(["show", "NCT01724398"]);
    r.expect_code(0);
    let out = r.out();
    for needle in [
        "    on a day its site is closed (with a site calendar):",
        "      rule:     nearest: moves to the closest open day, the later one on a tie  (ASSUMED: The record states no rule for a day the site is closed",
        "      window:   2 days before to 2 after its planned date  (ASSUMED: Assumed: a weekly infusion at most 2 days early or late.)",
        "      min gap:  at least 5 days between two doses after a move  (ASSUMED: Assumed: weekly infusions at least 5 days apart after any move.)",
        "      anchor:   previous: a dose moved or given late moves the later ones as many days  (ASSUMED: The record states no rule for a late dose.",
        "    weight:   current: each dose at the weight in force on its date",
        "    tolerance: a dose given more than 10% from the planned one is flagged dose_low or dose_high  (ASSUMED: The record states no tolerance for a dose given.",
        "    on a day its site is closed: nearest: moves to the closest open day, the later one on a tie  (ASSUMED: The record states no rule for a day the site is closed",
    ] {
        assert!(out.contains(needle), "{needle}\n{out}");
    }
    // A scenario with no rule for a closed day says what dosesim does without one.
    let r = run(["show", "NCT02812121"]);
    r.expect_code(0);
    let out = r.out();
    assert!(
        out.contains("      anchor:   plan: the later doses keep their planned dates  (")
            && out.contains("not in the scenario: dosesim's default"),
        "{out}"
    );
    // stderr only counts what stdout gives in full.
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("assumed: NCT02812121: "),
        "{}",
        r.stderr
    );
}

#[test]
fn every_positional_argument_has_help() {
    let commands: &[&[&str]] = &[
        &["calendar"],
        &["validate"],
        &["calendars", "check"],
        &["show"],
        &["cohort"],
        &["pharmacy"],
        &["prep"],
        &["run"],
        &["chart"],
        &["compare"],
        &["examples"],
        &["forecast"],
        &["timeline"],
    ];
    for cmd in commands {
        let mut args = cmd.to_vec();
        args.push("--help");
        let r = run(&args);
        r.expect_code(0);
        let out = r.out();
        let Some(section) = out.split("\nArguments:\n").nth(1) else {
            continue;
        };
        // Each argument: its name, then its help on the same line or the lines under it.
        let mut args: Vec<(String, String)> = Vec::new();
        for l in section.lines().take_while(|l| !l.starts_with("Options:")) {
            let t = l.trim();
            if t.starts_with(['<', '[']) {
                let (name, help) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
                args.push((name.to_string(), help.trim().to_string()));
            } else if let Some(last) = args.last_mut() {
                last.1.push_str(t);
            }
        }
        assert!(!args.is_empty(), "{cmd:?}:\n{out}");
        for (name, help) in args {
            assert!(help.len() > 10, "{cmd:?}: no help for {name}:\n{out}");
        }
    }
    let r = run(["show", "--help"]);
    assert!(
        r.out()
            .contains("<SCENARIO>  A scenario file, or the trial id of one in scenarios/"),
        "{}",
        r.out()
    );
}

#[test]
fn an_unknown_site_names_the_site_calendars_there_are() {
    let r = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        "2026-12-30",
        &["--site", "XX"],
    );
    r.expect_code(2);
    assert!(
        r.stderr.contains("no calendar for site 'XX': scenarios/calendars/XX.toml does not exist; the site calendars in scenarios/calendars: BJ-302, GZ-SYSU, GZ-SYSU3, HN-BOAO,"),
        "{}",
        r.stderr
    );
    // A roster's site too.
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(
        dir.path(),
        "r.csv",
        "patient_id,arm,weight_kg,start_date,site\nP1,high,60,2026-10-01,XX\n",
    );
    let r = pharmacy(
        std::path::Path::new("scenarios/nct04822922.toml"),
        &roster,
        &[],
    );
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("does not exist; the site calendars in scenarios/calendars: BJ-302, "),
        "{}",
        r.stderr
    );
}
