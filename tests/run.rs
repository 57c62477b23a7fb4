//! `dosesim run` end to end: every bundled scenario with its demo roster
//! (scenarios/rosters/<TRIAL>.csv) into DIR/<TRIAL>/, an index linking the reports, one
//! summary line per trial, the same bytes on every run; a named scenario writes only its
//! trial; and every scenario and roster is checked before anything is written.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::*;

/// `dosesim run [SCENARIOS...] --out OUT`.
fn run_into(scenarios: &[&Path], out: &Path) -> Run {
    let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref()];
    args.extend(scenarios.iter().map(|s| s.as_os_str()));
    args.extend(["--out".as_ref(), out.as_os_str()]);
    run(args)
}

/// The patient ids of a demo roster, in file order.
fn demo_ids(trial: &str) -> Vec<String> {
    roster_lines(&root().join(format!("scenarios/rosters/{trial}.csv")))
        .iter()
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect()
}

/// The cell product each bundled trial's forecast counts.
/// The products a bundled trial's forecast has a fan chart of (its plasma, in mL, too).
fn forecast_products(trial: &str) -> &'static [&'static str] {
    match trial {
        "NCT02812121" => &["ucb_msc"],
        "NCT01724398" => &["plasma", "uc_msc"],
        _ => &["uc_msc"],
    }
}

/// Checks one trial's folder: the three files and four per patient.
fn check_trial_dir(out: &Path, trial: &str) {
    let dir = out.join(trial);
    // A trial with a bundled administration record also has its deviations.
    let mut want_files = vec![
        "calendar.ics",
        "manifest.json",
        "patients",
        "pharmacy.csv",
        "prep.csv",
        "report.html",
        // Every demo roster has a site column: a calendar file per site.
        "sites",
    ];
    // ... and keeps a copy of the record it was made from.
    let log = root().join(format!("scenarios/logs/{trial}.csv"));
    if log.is_file() {
        want_files.extend(["deviations.csv", "record.csv"]);
        assert_eq!(
            std::fs::read(dir.join("record.csv")).unwrap(),
            std::fs::read(&log).unwrap(),
            "{trial}: record.csv is the record, byte for byte"
        );
    }
    // Every bundled trial has a forecast plan, so its forecast folder too.
    let plan = format!("scenarios/plans/{}.toml", trial.to_ascii_lowercase());
    assert!(root().join(&plan).is_file(), "{plan}");
    want_files.push("forecast");
    want_files.sort();
    assert_eq!(entries(&dir), want_files, "{trial}");
    // A file per site that has an appointment (not every one: NCT01573923's control arm
    // has background treatment only).
    let mut pharmacy = csv::Reader::from_path(dir.join("pharmacy.csv")).unwrap();
    let header = pharmacy.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (kind, site) = (col("kind"), col("site"));
    let mut sites: Vec<String> = pharmacy
        .records()
        .map(|r| r.unwrap())
        .filter(|r| &r[kind] != "background")
        .map(|r| format!("{}.ics", &r[site]))
        .collect();
    sites.sort();
    sites.dedup();
    assert_eq!(entries(&dir.join("sites")), sites, "{trial}: sites/");
    let mut forecast_files: Vec<String> = forecast_products(trial)
        .iter()
        .flat_map(|p| [format!("fan-{p}.png"), format!("fan-{p}.svg")])
        .collect();
    forecast_files.extend(
        [
            "forecast.html",
            "lots.csv",
            "manifest.json",
            "monthly.csv",
            "summary.csv",
            "weekly.csv",
        ]
        .map(String::from),
    );
    assert_eq!(
        entries(&dir.join("forecast")),
        forecast_files,
        "{trial}: forecast/"
    );
    // Five files a patient, but no .ics for one of background treatment only (a calendar
    // file must hold an event).
    let ids = demo_ids(trial);
    let mut want: Vec<String> = ids
        .iter()
        .flat_map(|id| ["csv", "html", "ics", "png", "svg"].map(|e| format!("{id}.{e}")))
        .filter(|f| {
            let Some(id) = f.strip_suffix(".ics") else {
                return true;
            };
            has_appointment(&std::fs::read(dir.join(format!("patients/{id}.csv"))).unwrap())
        })
        .collect();
    want.sort();
    assert_eq!(entries(&dir.join("patients")), want, "{trial}: patients/");
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    // Up to 500 patients the report holds each one's section; beyond, a linked list.
    let (shown, what) = if ids.len() <= 500 {
        (
            // "patient wide" once the record gives planned and given side by side.
            "<details class=\"patient",
            "a section per patient",
        )
    } else {
        (".html\">", "a link per patient")
    };
    assert_eq!(report.matches(shown).count(), ids.len(), "{trial}: {what}");
    let pharmacy = std::fs::read_to_string(dir.join("pharmacy.csv")).unwrap();
    assert!(pharmacy.starts_with(&HEADER20.join(",")), "{trial}");
    let prep = std::fs::read_to_string(dir.join("prep.csv")).unwrap();
    assert!(prep.starts_with(
        "date,weekday,site,product,doses,total_dose,dose_unit,total_volume_ml,patient_ids,assumed,flags\n"
    ));
}

/// The lines of `text` after the header, grouped by their first cell (a patient id, which
/// never needs quotes), in order.
fn lines_by_patient(text: &str) -> std::collections::BTreeMap<&str, Vec<&str>> {
    let mut m: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for l in text.lines().skip(1) {
        m.entry(l.split(',').next().unwrap()).or_default().push(l);
    }
    m
}

/// Each patient's lines in pharmacy.csv are, byte for byte, their patients/<id>.csv.
fn check_pharmacy_is_the_patient_files(out: &Path, trial: &str) {
    let dir = out.join(trial);
    let pharmacy = std::fs::read_to_string(dir.join("pharmacy.csv")).unwrap();
    let by_patient = lines_by_patient(&pharmacy);
    let ids = demo_ids(trial);
    let mut total = 0;
    for id in &ids {
        let file = std::fs::read_to_string(dir.join(format!("patients/{id}.csv"))).unwrap();
        assert_eq!(file.lines().next(), pharmacy.lines().next(), "{trial} {id}");
        let want: Vec<&str> = file.lines().skip(1).collect();
        let got = by_patient.get(id.as_str()).cloned().unwrap_or_default();
        assert_eq!(got, want, "{trial} {id}: pharmacy.csv vs patients/{id}.csv");
        total += want.len();
    }
    assert_eq!(
        total,
        pharmacy.lines().count() - 1,
        "{trial}: no other rows"
    );
}

#[test]
fn run_writes_all_five_trials_an_index_and_the_same_bytes_twice() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let run_a = run_into(&[], &a);
    run_a.expect_code(0);

    let mut want: Vec<&str> = TRIALS.iter().map(|t| t.0).collect();
    want.push("index.html");
    want.sort();
    assert_eq!(entries(&a), want);
    for (trial, _) in TRIALS {
        check_trial_dir(&a, trial);
    }

    // stdout: one summary line per trial, with the roster's number of patients, then the
    // index.
    let out = run_a.out();
    let all: Vec<&str> = out.lines().collect();
    // Each trial's line is followed by its forecast's.
    let forecasts = all
        .iter()
        .filter(|l| l.starts_with("  forecast: 10000 replicates (seed 1)"));
    assert_eq!(forecasts.count(), TRIALS.len(), "{out}");
    let lines: Vec<&str> = all
        .into_iter()
        .filter(|l| !l.starts_with("  forecast: "))
        .collect();
    assert_eq!(lines.len(), TRIALS.len() + 1, "{out}");
    for (trial, _) in TRIALS {
        let mine: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with(&format!("{trial}: ")))
            .collect();
        assert_eq!(mine.len(), 1, "{trial}: one summary line\n{out}");
        let n = demo_ids(trial).len();
        assert!(
            mine[0].starts_with(&format!("{trial}: {n} patients; ")),
            "{trial}: {n} patients: {}",
            mine[0]
        );
        assert!(
            mine[0].ends_with(&format!(" -> {}", a.join(trial).display())),
            "{}",
            mine[0]
        );
    }
    assert_eq!(
        lines.last().unwrap(),
        &format!("index: {}", a.join("index.html").display())
    );
    // Review findings 2: a total that sums an assumed dose says so (NCT02812121's dose is
    // not in its record); totals of stated doses do not.
    let marked = "[includes assumed doses]";
    for l in &lines {
        assert_eq!(
            l.contains(marked),
            l.starts_with("NCT02812121: "),
            "only NCT02812121's total sums an assumed dose: {l}"
        );
    }
    // Review findings 7: each assumed value is said once per trial, not once per arm.
    let warnings = run_a.warnings();
    let mut seen = std::collections::HashSet::new();
    for w in &warnings {
        assert!(seen.insert(*w), "said twice: {w}");
    }
    assert!(
        warnings
            .iter()
            .filter(|w| w.contains(": ucb_msc dose (see dosesim show"))
            .count()
            == 1,
        "{}",
        run_a.stderr
    );

    // The index links each trial's report and loads nothing from elsewhere.
    let index = std::fs::read_to_string(a.join("index.html")).unwrap();
    assert_eq!(
        index.matches(marked).count(),
        1,
        "the index marks the same total"
    );
    for (trial, _) in TRIALS {
        assert!(
            index.contains(&format!("<a href=\"{trial}/report.html\">{trial}</a>")),
            "index links {trial}"
        );
        assert!(a.join(trial).join("report.html").is_file());
    }
    let relative_report = |h: &str| TRIALS.iter().any(|t| h == format!("{}/report.html", t.0));
    assert_self_contained(&index, "index.html", &relative_report);
    assert_http_only_in_links(&index, "index.html", &relative_report);
    let svgs = inline_svgs(&index);
    assert_eq!(svgs.len(), 1, "the compare chart");
    let texts = svg_texts(svgs[0]);
    // A month-based schedule among them: the axis reads dates from the day 1 taken.
    assert!(
        texts
            .iter()
            .any(|t| t.contains("Date (study day 1 taken as")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("cells/kg")), "{texts:?}");

    // A second run into another folder: the same files, byte for byte.
    let run_b = run_into(&[], &b);
    run_b.expect_code(0);
    assert_eq!(run_a.stderr, run_b.stderr);
    assert_eq!(
        run_a.out().replace(&a.display().to_string(), "DIR"),
        run_b.out().replace(&b.display().to_string(), "DIR")
    );
    // Each manifest names the command, whose --out is the one difference.
    let unfold = |dir: &Path| {
        let mut t = tree(dir);
        for v in t.values_mut() {
            let text = String::from_utf8_lossy(v).replace(&dir.display().to_string(), "DIR");
            *v = text.into_bytes();
        }
        t
    };
    assert_same_tree(&unfold(&a), &unfold(&b), "run twice");
    // The same command again into the same folder: byte-identical, manifests included.
    let before = tree(&a);
    run_into(&[], &a).expect_code(0);
    assert_same_tree(&before, &tree(&a), "rerun");
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn every_calendar_file_a_run_writes_holds_an_event() {
    // RFC 5545 allows no calendar without a component. NCT01573923's and NCT02812121's
    // control-arm patients have background treatment only: no .ics of their own, and
    // their sites' files hold the other patients' events.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run_into(&[], &out).expect_code(0);
    let ics: Vec<_> = files_under(&out)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "ics"))
        .collect();
    assert!(!ics.is_empty());
    for p in &ics {
        let text = std::fs::read_to_string(p).unwrap();
        assert!(
            text.contains("\r\nBEGIN:VEVENT\r\n"),
            "{}: no event",
            p.display()
        );
        assert_ics_lines(text.as_bytes(), &p.display().to_string());
    }
    let mut without = Vec::new();
    for (trial, _) in TRIALS {
        for id in demo_ids(trial) {
            let patients = out.join(trial).join("patients");
            let csv = std::fs::read(patients.join(format!("{id}.csv"))).unwrap();
            let file = patients.join(format!("{id}.ics"));
            assert_eq!(file.exists(), has_appointment(&csv), "{}", file.display());
            if !has_appointment(&csv) {
                without.push(format!("{trial} {}", parse_csv(&csv).1[0].arm_id));
            }
        }
    }
    // The 247 patients of the issue that found their files empty.
    assert_eq!(without.len(), 247);
    without.sort();
    without.dedup();
    assert_eq!(without, ["NCT01573923 conventional", "NCT02812121 control"]);
    // The report says why there is none, where the patients' files are.
    let report = std::fs::read_to_string(out.join("NCT01573923/report.html")).unwrap();
    assert!(
        report.contains("for a patient of arm <code>conventional</code>: an arm of background treatment only has no infusion, exchange or visit, and a calendar file (RFC 5545) must hold at least one event"),
        "NCT01573923's report"
    );
}

#[test]
fn run_pharmacy_rows_are_the_patient_files_for_every_trial() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run_into(&[], &out).expect_code(0);
    for (trial, _) in TRIALS {
        check_pharmacy_is_the_patient_files(&out, trial);
    }
}

#[test]
fn run_with_a_named_scenario_writes_only_that_trial() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = run_into(&[Path::new("scenarios/nct04822922.toml")], &out);
    run.expect_code(0);
    assert_eq!(entries(&out), ["NCT04822922", "index.html"]);
    check_trial_dir(&out, "NCT04822922");
    let text = run.out();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("  forecast: "))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("NCT04822922: 16 patients; uc_msc: 64 doses, "));
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert_eq!(index.matches("<a href=").count(), 1);
    assert!(index.contains("<a href=\"NCT04822922/report.html\">"));
    for (trial, _) in TRIALS.iter().filter(|t| t.0 != "NCT04822922") {
        assert!(!index.contains(trial), "{trial} is not in the index");
    }
}

/// A folder with copies of the named bundled scenarios and their demo rosters, laid out as
/// `run` expects (rosters/ beside the scenarios); `roster_text` overrides a roster.
fn scenario_folder(
    dir: &Path,
    trials: &[&str],
    roster_text: &[(&str, &str)],
) -> std::path::PathBuf {
    let s = dir.join("s");
    std::fs::create_dir_all(s.join("rosters")).unwrap();
    for trial in trials {
        let (_, scenario) = TRIALS.iter().find(|t| t.0 == *trial).unwrap();
        let name = Path::new(scenario).file_name().unwrap();
        std::fs::copy(root().join(scenario), s.join(name)).unwrap();
        let roster = format!("{trial}.csv");
        match roster_text.iter().find(|r| r.0 == *trial) {
            Some((_, text)) => {
                write_file(&s.join("rosters"), &roster, text);
            }
            None => {
                std::fs::copy(
                    root().join("scenarios/rosters").join(&roster),
                    s.join("rosters").join(&roster),
                )
                .unwrap();
            }
        }
    }
    s
}

#[test]
fn run_checks_every_roster_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let bad = format!("{ROSTER_HEADER}\nP1,msc,60,2027-01-01\nP2,msc,abc,2027-01-01\n");
    let s = scenario_folder(
        dir.path(),
        &["NCT04822922", "NCT05106972"],
        &[("NCT05106972", &bad)],
    );
    let out = dir.path().join("out");
    // The folder stands for every scenario in it; the good one comes first.
    let run = run_into(&[&s], &out);
    run.expect_code(2);
    assert!(run.stdout.is_empty(), "{}", run.out());
    let roster = s.join("rosters/NCT05106972.csv");
    assert!(
        run.stderr.contains(&format!(
            "{}:3: weight_kg: 'abc' is not a weight in kg",
            roster.display()
        )),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "nothing written, not even the good trial");

    // An existing output folder stays as it was.
    let good = scenario_folder(&dir.path().join("good"), &["NCT04822922"], &[]);
    run_into(&[&good], &out).expect_code(0);
    let before = tree(&out);
    run_into(&[&s], &out).expect_code(2);
    assert_same_tree(&before, &tree(&out), "after a refused run");
}

#[test]
fn run_without_a_demo_roster_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario_folder(dir.path(), &["NCT04822922", "NCT05106972"], &[]);
    std::fs::remove_file(s.join("rosters/NCT05106972.csv")).unwrap();
    let out = dir.path().join("out");
    let run = run_into(&[&s], &out);
    run.expect_code(2);
    assert!(
        run.stderr.contains("no demo roster for NCT05106972"),
        "{}",
        run.stderr
    );
    assert!(!out.exists());
    let names: BTreeSet<String> = entries(&s).into_iter().collect();
    assert!(names.contains("nct04822922.toml"));
}

#[test]
fn run_refuses_to_roll_a_trial_back_when_its_record_is_gone_or_older() {
    // NCT01724398 with a small roster and a record in logs/, beside NCT04822922 (no
    // record); no plans/ folder, so no forecast.
    let dir = tempfile::tempdir().unwrap();
    let roster = format!("{ROSTER_HEADER}\nP1,msc,60,2027-03-01\nP2,pe,60,2027-03-01\n");
    let s = scenario_folder(
        dir.path(),
        &["NCT01724398", "NCT04822922"],
        &[("NCT01724398", &roster)],
    );
    let rows = "patient_id,date,record,component,occurrence,amount,note\n\
                P1,2027-03-01,given,uc_msc,1,,\n\
                P2,2027-03-01,given,pe,1,,\n\
                P1,2027-03-09,died,,,,\n";
    std::fs::create_dir_all(s.join("logs")).unwrap();
    let log = write_file(&s.join("logs"), "NCT01724398.csv", rows);
    let out = dir.path().join("out");
    run_into(&[&s], &out).expect_code(0);
    let trial = out.join("NCT01724398");
    assert_eq!(
        std::fs::read(trial.join("record.csv")).unwrap(),
        rows.as_bytes()
    );
    let before = tree(&out);

    // The record is gone: no trial folder is written, not even the other trial's.
    std::fs::remove_file(&log).unwrap();
    let gone = run_into(&[&s], &out);
    gone.expect_code(2);
    assert!(
        gone.stderr.contains(&format!(
            "error: {}: made with the administration record {} as of 2027-03-09 (kept as {}), and this run has none (run reads it from {}, which is not there)",
            trial.display(),
            log.display(),
            trial.join("record.csv").display(),
            log.display()
        )),
        "{}",
        gone.stderr
    );
    assert!(gone.stdout.is_empty());
    assert_same_tree(&before, &tree(&out), "after a refused run");

    // Last week's record: the death is not in it.
    write_file(
        &s.join("logs"),
        "NCT01724398.csv",
        &rows.replace("P1,2027-03-09,died,,,,\n", ""),
    );
    let older = run_into(&[&s], &out);
    older.expect_code(2);
    assert!(
        older.stderr.contains(&format!(
            "error: {}:4: this row of the administration record {} was made from is not in {}: P1,2027-03-09,died,,,,.",
            trial.join("record.csv").display(),
            trial.display(),
            log.display()
        )),
        "{}",
        older.stderr
    );
    assert_same_tree(&before, &tree(&out), "after a refused run");

    // Forced: said on stderr, and every SEQUENCE above what the folder had.
    let highest = |text: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix("SEQUENCE:")?.trim().parse::<u64>().ok())
            .max()
            .unwrap()
    };
    let old = std::fs::read_to_string(trial.join("calendar.ics")).unwrap();
    let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), s.as_os_str()];
    args.extend(["--out".as_ref(), out.as_os_str(), "--force".as_ref()]);
    let forced = run(args);
    forced.expect_code(0);
    assert_eq!(
        forced
            .warnings()
            .iter()
            .filter(|w| w.starts_with("warning: --force: "))
            .count(),
        1,
        "{}",
        forced.stderr
    );
    let new = std::fs::read_to_string(trial.join("calendar.ics")).unwrap();
    let lowest = new
        .lines()
        .filter_map(|l| l.strip_prefix("SEQUENCE:")?.trim().parse::<u64>().ok())
        .min()
        .unwrap();
    assert!(lowest > highest(&old), "{lowest} after {}", highest(&old));
}
