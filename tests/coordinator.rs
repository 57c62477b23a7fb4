//! The calendar files a study coordinator imports: the trial's calendar.ics and one per
//! site beside each patient's own file (the same events, byte for byte, with the same
//! UIDs), titles that name the patient, reminders before each dose and visit (--remind-days), and
//! `calendar --roster --patient`, which takes a patient from the roster.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::*;

const NCT04822922: &str = "scenarios/nct04822922.toml";

/// A roster over two sites and none: H1 and H2 at SH-RENJI, L1 at BJ-302, M1 at no site.
const SITED: &str = "patient_id,arm,weight_kg,start_date,site\n\
    H2,high,80,2026-09-14,SH-RENJI\n\
    H1,high,62.5,2026-09-07,SH-RENJI\n\
    L1,low,70,2026-09-08,BJ-302\n\
    M1,middle,55.5,2026-09-09,\n";

/// The VEVENT blocks of a calendar file, as written.
fn vevents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(a) = rest.find("BEGIN:VEVENT\r\n") {
        let b = rest[a..].find("END:VEVENT\r\n").unwrap() + a + "END:VEVENT\r\n".len();
        out.push(&rest[a..b]);
        rest = &rest[b..];
    }
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A VALARM's properties, sorted: ("NAME;PARAM=VALUE", value).
type Alarm = Vec<(String, String)>;

/// Each event's (UID, SUMMARY, nested components), by the icalendar crate's parser.
fn parsed(text: &str) -> Vec<(String, String, Vec<Alarm>)> {
    let unfolded = icalendar::parser::unfold(text);
    let cal = icalendar::parser::read_calendar(&unfolded).expect("the file parses");
    cal.components
        .iter()
        .map(|c| {
            assert_eq!(c.name.as_str(), "VEVENT");
            let prop = |n: &str| {
                c.properties
                    .iter()
                    .find(|p| p.name.as_str() == n)
                    .map(|p| p.val.as_str().to_string())
                    .unwrap_or_default()
            };
            let inner = c
                .components
                .iter()
                .map(|a| {
                    assert_eq!(a.name.as_str(), "VALARM");
                    let mut props: Vec<(String, String)> = a
                        .properties
                        .iter()
                        .map(|p| {
                            let params: Vec<String> = p
                                .params
                                .iter()
                                .map(|q| {
                                    format!(
                                        ";{}={}",
                                        q.key.as_str(),
                                        q.val.as_ref().map(|v| v.as_str()).unwrap_or_default()
                                    )
                                })
                                .collect();
                            (
                                format!("{}{}", p.name.as_str(), params.concat()),
                                p.val.as_str().to_string(),
                            )
                        })
                        .collect();
                    props.sort();
                    props
                })
                .collect();
            (prop("UID"), prop("SUMMARY"), inner)
        })
        .collect()
}

/// The SITED roster's cohort without reminders: (its folder, the roster, the output).
fn sited_cohort() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(dir.path(), "r.csv", SITED);
    let out = dir.path().join("out");
    cohort(Path::new(NCT04822922), &roster, &out).expect_code(0);
    (dir, roster, out)
}

/// `cohort NCT04822922 --roster R --out OUT --remind-days N`, which must succeed.
fn cohort_reminded(roster: &Path, out: &Path, days: &str) {
    run([
        "cohort",
        NCT04822922,
        "--roster",
        roster.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--remind-days",
        days,
    ])
    .expect_code(0);
}

#[test]
fn the_trial_and_each_site_file_hold_the_patient_files_events_byte_for_byte() {
    let (_dir, _roster, out) = sited_cohort();
    let trial = out.join("NCT04822922");
    let patient = |id: &str| read(&trial.join(format!("patients/{id}.ics")));
    let blocks = |ids: &[&str]| -> String {
        ids.iter()
            .map(|id| vevents(&patient(id)).concat())
            .collect::<String>()
    };
    // Every patient, in id order; each site's patients; M1 (no site) in the trial's only.
    let all = read(&trial.join("calendar.ics"));
    assert_eq!(vevents(&all).concat(), blocks(&["H1", "H2", "L1", "M1"]));
    assert!(all.contains("X-WR-CALNAME:NCT04822922 (every patient)\r\n"));
    let renji = read(&trial.join("sites/SH-RENJI.ics"));
    assert_eq!(vevents(&renji).concat(), blocks(&["H1", "H2"]));
    assert!(renji.contains("X-WR-CALNAME:NCT04822922 at SH-RENJI\r\n"));
    let bj = read(&trial.join("sites/BJ-302.ics"));
    assert_eq!(vevents(&bj).concat(), blocks(&["L1"]));
    assert_eq!(
        entries(&trial.join("sites")),
        ["BJ-302.ics", "SH-RENJI.ics"]
    );
    for text in [&all, &renji, &bj] {
        assert_ics_crlf(text.as_bytes(), "a collection");
        assert!(text.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(text.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"));
    }
    // A calendar app that sees a patient's file and the trial's finds one event per UID.
    let uids: Vec<String> = parsed(&all).into_iter().map(|e| e.0).collect();
    let unique: BTreeSet<&String> = uids.iter().collect();
    assert_eq!(unique.len(), uids.len());
    // 4 patients x (4 infusions + 2 visits).
    assert_eq!(uids.len(), 24);
    let h1: BTreeSet<String> = parsed(&patient("H1")).into_iter().map(|e| e.0).collect();
    assert!(h1.iter().all(|u| unique.contains(u)));
    // The manifest lists them, so a rerun replaces them with the rest.
    let manifest = read(&trial.join("manifest.json"));
    for f in ["calendar.ics", "sites/SH-RENJI.ics", "sites/BJ-302.ics"] {
        assert!(
            manifest.contains(&format!("\"{f}\"")),
            "{f} in the manifest"
        );
    }
}

#[test]
fn every_title_starts_with_the_patient_id() {
    let (_dir, _roster, out) = sited_cohort();
    let all = read(&out.join("NCT04822922/calendar.ics"));
    let events = parsed(&all);
    for (uid, summary, _) in &events {
        // UID NCT04822922-<patient>-<event>-<n>@dosesim.
        let patient = uid.split('-').nth(1).unwrap();
        assert!(summary.starts_with(&format!("{patient}: ")), "{summary}");
    }
    // High dose, 12 x 10^5 cells/kg x 62.5 kg = 7.50 x 10^7 cells; H1's 2nd is on day 4,
    // Thu 2026-09-10.
    let h1 = events
        .iter()
        .find(|e| e.0 == "NCT04822922-H1-uc_msc-2@dosesim")
        .unwrap();
    assert_eq!(
        h1.1.replace("\\,", ","),
        "H1: hUC-MSC infusion 2/4, 7.50 x 10⁷ cells"
    );
}

#[test]
fn remind_days_puts_a_reminder_before_each_dose_and_visit_still_to_come() {
    let (dir, roster, plain) = sited_cohort();
    let reminded = dir.path().join("reminded");
    cohort_reminded(&roster, &reminded, "3");
    // Off by default.
    let off = read(&plain.join("NCT04822922/calendar.ics"));
    assert!(!off.contains("VALARM"));
    let on = read(&reminded.join("NCT04822922/calendar.ics"));
    let on_visits = parsed(&on)
        .iter()
        .filter(|e| e.1.contains(": Visit: ") && !e.2.is_empty())
        .count();
    assert!(on_visits > 0, "a visit has a reminder too");
    for (uid, summary, alarms) in parsed(&on) {
        let base = uid.strip_suffix("@dosesim").unwrap();
        let expected: Vec<(String, String)> = vec![
            ("ACTION".into(), "DISPLAY".into()),
            ("DESCRIPTION".into(), format!("In 3 days: {summary}")),
            // 08:00 three days before: 2 days and 16 hours before the day starts.
            ("TRIGGER;RELATED=START".into(), "-P2DT16H".into()),
            ("UID".into(), format!("{base}-remind@dosesim")),
        ];
        assert_eq!(alarms, vec![expected], "{uid}");
    }
    // Nothing else changes, and the run's bytes do not depend on the clock.
    assert_eq!(
        on.split("BEGIN:VALARM")
            .map(|s| s.split_once("END:VALARM\r\n").map_or(s, |x| x.1))
            .collect::<String>(),
        off
    );
    let again = dir.path().join("again");
    cohort_reminded(&roster, &again, "3");
    assert_eq!(read(&again.join("NCT04822922/calendar.ics")), on);
    assert!(!on.contains("DTSTAMP:2026-12") && !on.contains("VALARM\r\nDTSTAMP"));

    // With a record, a dose given, missed or cancelled needs no reminder.
    let out = dir.path().join("recorded");
    run([
        "cohort",
        "scenarios/nct01724398.toml",
        "--roster",
        "scenarios/rosters/NCT01724398.csv",
        "--log",
        "scenarios/logs/NCT01724398.csv",
        "--out",
        out.to_str().unwrap(),
        "--remind-days",
        "1",
    ])
    .expect_code(0);
    let text = read(&out.join("NCT01724398/calendar.ics"));
    let events = parsed(&text);
    let given = events
        .iter()
        .find(|e| e.0 == "NCT01724398-P4398-002-uc_msc-2@dosesim")
        .unwrap();
    assert!(given.1.contains("GIVEN"), "{}", given.1);
    assert!(given.2.is_empty());
    let missed = events
        .iter()
        .find(|e| e.0 == "NCT01724398-P4398-003-pe-2@dosesim")
        .unwrap();
    assert!(missed.1.contains("MISSED") && missed.2.is_empty());
    assert!(events.iter().any(|e| !e.2.is_empty()));
    assert!(text.contains("DESCRIPTION:Tomorrow: "));

    // On `calendar` and `run` too; a number of days out of range is refused.
    let r = calendar(
        NCT04822922,
        "low",
        "70",
        "2027-01-04",
        &["--patient", "L9", "--format", "ics", "--remind-days", "0"],
    );
    r.expect_code(0);
    // 4 doses and 2 visits, at 08:00 on the day.
    assert_eq!(r.out().matches("TRIGGER;RELATED=START:PT8H\r\n").count(), 6);
    let r = calendar(
        NCT04822922,
        "low",
        "70",
        "2027-01-04",
        &["--patient", "L9", "--format", "ics", "--remind-days", "400"],
    );
    r.expect_code(2);
    let run_out = dir.path().join("run");
    run([
        "run",
        NCT04822922,
        "--out",
        run_out.to_str().unwrap(),
        "--remind-days",
        "2",
    ])
    .expect_code(0);
    assert!(
        read(&run_out.join("NCT04822922/calendar.ics")).contains("TRIGGER;RELATED=START:-P1DT16H")
    );
}

#[test]
fn calendar_takes_a_patient_from_the_roster() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(dir.path(), "r.csv", SITED);
    let out = dir.path().join("out");
    cohort_reminded(&roster, &out, "2");
    // The patient's own file, byte for byte: arm, weight, start and site from the roster.
    for id in ["H1", "L1", "M1"] {
        let r = run([
            "calendar",
            "NCT04822922",
            "--roster",
            roster.to_str().unwrap(),
            "--patient",
            id,
            "--format",
            "ics",
            "--remind-days",
            "2",
        ]);
        r.expect_code(0);
        assert_eq!(
            r.out(),
            read(&out.join(format!("NCT04822922/patients/{id}.ics"))),
            "{id}"
        );
        let csv = run([
            "calendar",
            "NCT04822922",
            "--roster",
            roster.to_str().unwrap(),
            "--patient",
            id,
            "--format",
            "csv",
        ]);
        assert_eq!(
            csv.out(),
            read(&out.join(format!("NCT04822922/patients/{id}.csv"))),
            "{id}"
        );
    }
    let r = run([
        "calendar",
        NCT04822922,
        "--roster",
        roster.to_str().unwrap(),
        "--patient",
        "h1",
    ]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("--patient: no patient 'h1' in the roster (4 patients; ids are compared as written, case included)"),
        "{}",
        r.stderr
    );
    for extra in [["--arm", "low"], ["--weight", "60"], ["--site", "BJ-302"]] {
        let mut args = vec![
            "calendar",
            NCT04822922,
            "--roster",
            roster.to_str().unwrap(),
            "--patient",
            "H1",
        ];
        args.extend(extra);
        let r = run(args);
        r.expect_code(2);
        assert!(
            r.stderr.contains("cannot be used with"),
            "{extra:?}: {}",
            r.stderr
        );
    }
    let r = run([
        "calendar",
        NCT04822922,
        "--roster",
        roster.to_str().unwrap(),
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("--patient"), "{}", r.stderr);
}

#[test]
fn a_roster_patients_missing_calendar_is_blamed_on_the_roster_line() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(dir.path(), "r.csv", SITED);
    let r = run([
        "calendar",
        NCT04822922,
        "--roster",
        roster.to_str().unwrap(),
        "--patient",
        "L1",
        "--calendars",
        dir.path().to_str().unwrap(),
    ]);
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("r.csv:4: site: no calendar for site 'BJ-302'"),
        "{}",
        r.stderr
    );
    // Reminders go in calendar files only: a table says so on stderr.
    let r = calendar(
        NCT04822922,
        "low",
        "70",
        "2027-01-04",
        &["--remind-days", "2"],
    );
    r.expect_code(0);
    assert!(
        r.stderr.contains(
            "warning: --remind-days puts reminders in a calendar file (ics), not in table output"
        ),
        "{}",
        r.stderr
    );
}
