//! `dosesim calendars check`: the bundled site calendars pass; a broken one is refused with
//! every problem, file, line and field, exit status 2.

use crate::common::*;

#[test]
fn the_bundled_site_calendars_pass() {
    let run = run(["calendars", "check"]);
    run.expect_code(0);
    let out = run.out();
    for site in ["beijing", "guangzhou", "shanghai", "weekends"] {
        assert!(
            out.contains(&format!(
                "OK  scenarios/calendars/{site}.toml  site {site}:"
            )),
            "{out}"
        );
    }
    assert!(out.contains("covers 2024-01-01 to 2026-12-31"), "{out}");
}

#[test]
fn a_broken_site_calendar_is_refused_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let holidays = root().join("scenarios/calendars/holidays");
    write_file(
        dir.path(),
        "good.toml",
        &format!(
            "name = \"Good\"\nclosed_weekdays = [\"Sat\", \"Sun\"]\nsources = [{{ file = \"{}\", open_if_summary_starts_with = \"上班\" }}]\n",
            holidays.join("cn-2026.ics").display()
        ),
    );
    write_file(
        dir.path(),
        "h.csv",
        "date,name,open\n2027-13-01,Bad,false\n",
    );
    write_file(
        dir.path(),
        "bad.toml",
        "name = \"Bad\"\nclosed_weekdays = [\"Saturday\"]\nsources = [\"h.csv\", \"missing.json\"]\nclosed = [\"2027-01-05\"]\nopen = [\"2027-01-05\"]\n",
    );
    let run = run([
        "calendars".as_ref(),
        "check".as_ref(),
        dir.path().as_os_str(),
    ]);
    run.expect_code(2);
    let out = run.out();
    assert!(out.contains("BAD "), "{out}");
    assert!(out.contains("bad.toml  (4 problems)"), "{out}");
    assert!(
        out.contains(
            "good.toml  site good: Good; closed Sat, Sun; covers 2026-01-01 to 2026-12-31"
        ),
        "{out}"
    );
    for needle in [
        "bad.toml:2: closed_weekdays[0]: 'Saturday' is not a weekday",
        "h.csv:2: date: '2027-13-01' is not a real calendar date",
        "bad.toml:3: sources[1]: cannot read",
        "bad.toml:5: open[0]: 2027-01-05 is listed both closed and open (also on line 4)",
    ] {
        assert!(run.stderr.contains(needle), "{needle}\n{}", run.stderr);
    }
}

/// Dates, shifts and flags of a calendar CSV's infusion rows.
fn infusions(run: &Run) -> Vec<(String, String, String, String)> {
    run.expect_code(0);
    let (_, rows) = parse_csv(&run.stdout);
    rows.iter()
        .filter(|r| r.kind == "cell_infusion")
        .map(|r| {
            (
                format!("{} {}", r.weekday, r.date),
                r.planned_date.clone(),
                r.shift_days.clone(),
                r.flags.clone(),
            )
        })
        .collect()
}

fn row(date: &str, planned: &str, shift: &str, flags: &str) -> (String, String, String, String) {
    (date.into(), planned.into(), shift.into(), flags.into())
}

/// NCT04822922's days 1/4/7/10 from Thursday 2026-10-01 at a Guangzhou site (the real
/// holiday-cn 2026 file): National Day closes 1 to 7 October and Saturday 10 October is a
/// make-up working day. Under the bundled rule (nearest open day, at most 1 day either
/// way, 2 days apart) day 1 and day 4 have no open day in reach and stay, flagged; day 7
/// moves to Thursday 8 October; day 10 is open.
#[test]
fn days_1_4_7_10_from_national_day_under_nearest() {
    let run = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        "2026-10-01",
        &["--site", "guangzhou", "--format", "csv"],
    );
    assert_eq!(
        infusions(&run),
        vec![
            row(
                "Thu 2026-10-01",
                "2026-10-01",
                "0",
                "closed_day;no_open_day_in_window"
            ),
            row(
                "Sun 2026-10-04",
                "2026-10-04",
                "0",
                "closed_day;no_open_day_in_window"
            ),
            row("Thu 2026-10-08", "2026-10-07", "1", "shifted"),
            row("Sat 2026-10-10", "2026-10-10", "0", ""),
        ]
    );
    assert!(
        run.stderr.contains(
            "patient patient: hUC-MSC infusion 1/4 stays on Thu 2026-10-01, a day site guangzhou is closed (National Day 国庆节): no open day in its window"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "assumed: NCT04822922: uc_msc on a closed day (see dosesim show NCT04822922)"
        ),
        "the rule used is assumed, and said so: {}",
        run.stderr
    );
    // The table names the move and the closure.
    let table = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        "2026-10-01",
        &["--site", "guangzhou"],
    );
    table.expect_code(0);
    let out = table.out();
    assert!(
        out.contains("moved from Wed 2026-10-07 (closed: National Day 国庆节), 1 day later"),
        "{out}"
    );
    assert!(
        out.contains("Site guangzhou: Guangzhou site (China working calendar)"),
        "{out}"
    );
}

/// The same regimen under `next` with a week's reach and anchor = previous: the first
/// dose waits for the first open day after the holiday and every later dose keeps its
/// interval, then moves off a weekend in turn.
#[test]
fn days_1_4_7_10_from_national_day_under_next_and_anchor_previous() {
    let text = broken_text(
        "scenarios/nct04822922.toml",
        &[
            (
                "timing.on_closed_day = { value = \"nearest\"",
                "timing.on_closed_day = { value = \"next\"",
            ),
            (
                "timing.window = { days_before = 1, days_after = 1,",
                "timing.anchor = { value = \"previous\", assumed = \"test\" }\ntiming.window = { days_before = 0, days_after = 7,",
            ),
        ],
    );
    let (_dir, path) = temp_scenario("next.toml", &text);
    let run = calendar(
        path.to_str().unwrap(),
        "low",
        "60",
        "2026-10-01",
        &[
            "--site",
            "guangzhou",
            "--format",
            "csv",
            "--calendars",
            "scenarios/calendars",
        ],
    );
    assert_eq!(
        infusions(&run),
        vec![
            row("Thu 2026-10-08", "2026-10-01", "7", "shifted"),
            // The interval kept from the first dose's move takes the rest beyond their
            // windows around the day-1 grid (0 before, 7 after): flagged before given.
            row(
                "Mon 2026-10-12",
                "2026-10-04",
                "8",
                "shifted;outside_window"
            ),
            row(
                "Thu 2026-10-15",
                "2026-10-07",
                "8",
                "shifted;outside_window"
            ),
            row(
                "Mon 2026-10-19",
                "2026-10-10",
                "9",
                "shifted;outside_window"
            ),
        ]
    );
}

/// Under anchor = previous a dose that lands back on its planned date is not "shifted",
/// and one whose anchored date has no open day in reach is placed from its own planned
/// date, never dragged onto a closed day (both found by a review).
#[test]
fn anchor_previous_reports_real_moves_only_and_never_drags_a_dose_onto_a_closed_day() {
    let text = broken_text(
        "scenarios/nct04822922.toml",
        &[(
            "timing.min_gap_days = { value = 2,",
            "timing.anchor = { value = \"previous\", assumed = \"test\" }\ntiming.min_gap_days = { value = 2,",
        )],
    );
    let (_dir, path) = temp_scenario("previous.toml", &text);
    let place = |start: &str| {
        infusions(&calendar(
            path.to_str().unwrap(),
            "high",
            "62.5",
            start,
            &[
                "--site",
                "guangzhou",
                "--format",
                "csv",
                "--calendars",
                "scenarios/calendars",
            ],
        ))
    };
    // From Tue 2026-09-22: dose 2 (Fri 09-25, Mid-Autumn Festival) moves to Thu 09-24;
    // dose 3, anchored to Sun 09-27, goes to the next open day, Mon 09-28: its own
    // planned date, so not shifted.
    assert_eq!(
        place("2026-09-22"),
        vec![
            row("Tue 2026-09-22", "2026-09-22", "0", ""),
            row("Thu 2026-09-24", "2026-09-25", "-1", "shifted"),
            row("Mon 2026-09-28", "2026-09-28", "0", ""),
            row("Wed 2026-09-30", "2026-10-01", "-1", "shifted"),
        ]
    );
    // From Mon 2026-09-28: dose 3's anchored date (Sat 10-03) and its planned date
    // (Sun 10-04) are both National Day with no open day in reach: it stays on its
    // planned date, flagged; dose 4 then moves from Wed 10-07 to Thu 10-08.
    assert_eq!(
        place("2026-09-28"),
        vec![
            row("Mon 2026-09-28", "2026-09-28", "0", ""),
            row("Wed 2026-09-30", "2026-10-01", "-1", "shifted"),
            row(
                "Sun 2026-10-04",
                "2026-10-04",
                "0",
                "closed_day;no_open_day_in_window"
            ),
            row("Thu 2026-10-08", "2026-10-07", "1", "shifted"),
        ]
    );
}

/// Spring Festival 2026 (15 to 23 February) is closed, and Saturday 14 February, a
/// make-up working day, is open: a dose due on Sunday 15 February moves back to it.
#[test]
fn spring_festival_is_closed_and_its_make_up_saturday_open() {
    let run = calendar(
        "scenarios/nct04822922.toml",
        "low",
        "60",
        "2026-02-12",
        &["--site", "guangzhou", "--format", "csv"],
    );
    assert_eq!(
        infusions(&run),
        vec![
            row("Thu 2026-02-12", "2026-02-12", "0", ""),
            row("Sat 2026-02-14", "2026-02-15", "-1", "shifted"),
            row(
                "Wed 2026-02-18",
                "2026-02-18",
                "0",
                "closed_day;no_open_day_in_window"
            ),
            row(
                "Sat 2026-02-21",
                "2026-02-21",
                "0",
                "closed_day;no_open_day_in_window"
            ),
        ]
    );
    // Sunday 2026-09-20 is a make-up working day: open, nothing moves or is flagged.
    let run = calendar(
        "scenarios/nct04822922.toml",
        "low",
        "60",
        "2026-09-17",
        &["--site", "guangzhou", "--format", "csv"],
    );
    let got = infusions(&run);
    assert_eq!(got[1], row("Sun 2026-09-20", "2026-09-20", "0", ""));
    // 26 September, Mid-Autumn Festival, with 25 and 27 closed too.
    assert_eq!(
        got[3],
        row(
            "Sat 2026-09-26",
            "2026-09-26",
            "0",
            "closed_day;no_open_day_in_window"
        )
    );
}

/// A calendar from a real .ics (holiday-cn's 2026 file, make-up days named 上班) and one
/// from a CSV give the same dates as the JSON one.
#[test]
fn ics_and_csv_calendars_place_doses_like_the_json_one() {
    let dir = tempfile::tempdir().unwrap();
    let holidays = root().join("scenarios/calendars/holidays");
    write_file(
        dir.path(),
        "ics.toml",
        &format!(
            "name = \"ics\"\nclosed_weekdays = [\"Sat\", \"Sun\"]\nsources = [{{ file = \"{}\", open_if_summary_starts_with = \"上班\" }}]\n",
            holidays.join("cn-2026.ics").display()
        ),
    );
    write_file(
        dir.path(),
        "h.csv",
        "date,name,open\n2026-10-01,National Day,false\n2026-10-02,National Day,false\n2026-10-03,National Day,false\n2026-10-04,National Day,false\n2026-10-05,National Day,false\n2026-10-06,National Day,false\n2026-10-07,National Day,false\n2026-10-10,Make-up day,true\n",
    );
    write_file(
        dir.path(),
        "csv.toml",
        "name = \"csv\"\nclosed_weekdays = [\"Sat\", \"Sun\"]\nsources = [\"h.csv\"]\n",
    );
    let place = |site: &str, calendars: &str| {
        infusions(&calendar(
            "scenarios/nct04822922.toml",
            "high",
            "60",
            "2026-10-01",
            &["--site", site, "--format", "csv", "--calendars", calendars],
        ))
    };
    let json = place("guangzhou", "scenarios/calendars");
    let d = dir.path().to_str().unwrap();
    assert_eq!(place("ics", d), json);
    assert_eq!(place("csv", d), json);
}

/// The roster's `site` column puts each patient on their site's calendar: events move by
/// the scenario's rules, those that cannot are warned about with their roster line, and
/// dates past the calendar's coverage are flagged provisional and said once per site.
/// With every day open, the pharmacy schedule is the one without a calendar, but for the
/// site column.
#[test]
fn a_roster_s_sites_place_its_patients() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(
        dir.path(),
        "r.csv",
        "patient_id,arm,weight_kg,start_date,site\nP1,high,60,2026-10-01,guangzhou\nP2,high,60,2026-10-01,\nP3,low,60,2026-12-24,weekends\nP4,middle,60,2026-12-01,guangzhou\n",
    );
    let scenario = std::path::Path::new("scenarios/nct04822922.toml");
    let with_sites = pharmacy(scenario, &roster, &[]);
    with_sites.expect_code(0);
    let err = &with_sites.stderr;
    for needle in [
        "r.csv:2: patient P1: hUC-MSC infusion 1/4 stays on Thu 2026-10-01, a day site guangzhou is closed (National Day 国庆节)",
        "warning: site guangzhou: its calendar does not cover 2027-03-01",
        "events moved off days their site is closed",
    ] {
        assert!(err.contains(needle), "{needle}\n{err}");
    }
    assert!(!err.contains("patient P2"), "no site, no calendar: {err}");
    let (_, rows) = parse_csv(&with_sites.stdout);
    let p1: Vec<&CsvRow> = rows.iter().filter(|r| r.patient_id == "P1").collect();
    assert!(p1.iter().all(|r| r.site == "guangzhou"));
    assert!(
        p1.iter().any(|r| r.date == "2026-10-08"
            && r.planned_date == "2026-10-07"
            && r.flags == "shifted")
    );
    // Past the holiday files (2026), flagged provisional.
    assert!(
        p1.iter()
            .filter(|r| r.date.as_str() >= "2027-01-01")
            .all(|r| r.flags.contains("provisional"))
    );
    let p2: Vec<&CsvRow> = rows.iter().filter(|r| r.patient_id == "P2").collect();
    assert!(p2.iter().all(|r| r.site.is_empty()
        && r.flags.is_empty()
        && r.shift_days == "0"
        && r.planned_date == r.date));
    // Weekends only (P3): Saturday 2027-01-02 moves to the nearest weekday within 1 day.
    assert!(
        rows.iter().any(|r| r.patient_id == "P3"
            && r.planned_date == "2027-01-02"
            && r.date == "2027-01-01"),
        "{rows:#?}"
    );

    // Every day open: the same bytes as no calendar at all, but for the site column.
    write_file(
        dir.path(),
        "open.toml",
        "name = \"Open every day\"\ncovers = \"2020-01-01..2030-12-31\"\n",
    );
    let open_roster = write_file(
        dir.path(),
        "open.csv",
        "patient_id,arm,weight_kg,start_date,site\nP1,high,60,2026-10-01,open\nP2,high,60,2026-10-01,open\nP3,low,60,2026-12-24,open\nP4,middle,60,2026-12-01,open\n",
    );
    let plain_roster = write_file(
        dir.path(),
        "plain.csv",
        "patient_id,arm,weight_kg,start_date\nP1,high,60,2026-10-01\nP2,high,60,2026-10-01\nP3,low,60,2026-12-24\nP4,middle,60,2026-12-01\n",
    );
    let cals: &std::ffi::OsStr = dir.path().as_os_str();
    let open = pharmacy(scenario, &open_roster, &["--calendars".as_ref(), cals]);
    let plain = pharmacy(scenario, &plain_roster, &["--calendars".as_ref(), cals]);
    open.expect_code(0);
    plain.expect_code(0);
    let without_site = |bytes: &[u8]| {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .replace(",open,", ",,")
    };
    assert_eq!(without_site(&open.stdout), without_site(&plain.stdout));
    assert!(!open.stderr.contains("moved"), "{}", open.stderr);

    // A site with no calendar file is an error on the first line naming it.
    let bad = write_file(
        dir.path(),
        "bad.csv",
        "patient_id,arm,weight_kg,start_date,site\nP1,high,60,2026-10-01,nowhere\nP2,high,60,2026-10-01,nowhere\n",
    );
    let run = pharmacy(scenario, &bad, &[]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("bad.csv:2: site: no calendar for site 'nowhere'"),
        "{}",
        run.stderr
    );
}

/// `calendar --site` with no such calendar, or a bad id, is a usage error naming --site.
#[test]
fn calendar_site_must_name_a_calendar() {
    let run = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        "2026-10-01",
        &["--site", "atlantis"],
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--site: no calendar for site 'atlantis'"),
        "{}",
        run.stderr
    );
    let run = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        "2026-10-01",
        &["--site", "../etc"],
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("is not a valid site id"),
        "{}",
        run.stderr
    );
}

/// A cohort's manifest names each site calendar its roster uses and each holiday file that
/// calendar reads, with their SHA-256, so that a folder made from other holidays is not
/// taken for this one.
#[test]
fn a_cohort_s_manifest_lists_its_calendars_and_holiday_files() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_file(
        dir.path(),
        "r.csv",
        "patient_id,arm,weight_kg,start_date,site\nP1,high,60,2026-10-01,guangzhou\nP2,low,60,2026-12-24,weekends\n",
    );
    let out = dir.path().join("out");
    cohort(
        std::path::Path::new("scenarios/nct04822922.toml"),
        &roster,
        &out,
    )
    .expect_code(0);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("NCT04822922/manifest.json")).unwrap())
            .unwrap();
    let inputs: Vec<(String, String)> = manifest["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert_eq!(i["sha256"].as_str().unwrap().len(), 64);
            (
                i["role"].as_str().unwrap().to_string(),
                i["path"].as_str().unwrap().replace('\\', "/"),
            )
        })
        .collect();
    for (role, path) in [
        ("site calendar", "scenarios/calendars/guangzhou.toml"),
        ("site calendar", "scenarios/calendars/weekends.toml"),
        ("holiday file", "scenarios/calendars/holidays/cn-2026.json"),
    ] {
        assert!(
            inputs.contains(&(role.to_string(), path.to_string())),
            "{role} {path}: {inputs:?}"
        );
    }
}

/// A copy of the guangzhou calendar without `expected_holidays`, in `dir`: the calendar as
/// it was before China's expected holidays, past its holiday files every weekday open.
fn files_only_calendar(dir: &std::path::Path) {
    let holidays = root().join("scenarios/calendars/holidays");
    let sources: Vec<String> = ["cn-2024.json", "cn-2025.json", "cn-2026.json"]
        .iter()
        .map(|f| format!("\"{}\"", holidays.join(f).display()))
        .collect();
    write_file(
        dir,
        "files-only.toml",
        &format!(
            "name = \"Guangzhou, holiday files only\"\nclosed_weekdays = [\"Sat\", \"Sun\"]\nsources = [{}]\n",
            sources.join(", ")
        ),
    );
}

/// Past holiday-cn's files (2026), the bundled Guangzhou calendar expects China's statutory
/// holidays: NCT04822922's day 4 from Tuesday 2027-09-28 is due on Friday 1 October,
/// National Day, and moves to Thursday 30 September; every date stays provisional, since
/// the 2027 notice's make-up working days and bridging days are not known (Monday 4 October
/// is open). Without expected holidays the dose stayed on 1 October.
#[test]
fn a_dose_due_on_national_day_2027_moves_off_it_and_stays_provisional() {
    let run = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        "2027-09-28",
        &["--site", "guangzhou", "--format", "csv"],
    );
    assert_eq!(
        infusions(&run),
        vec![
            row("Tue 2027-09-28", "2027-09-28", "0", "provisional"),
            row("Thu 2027-09-30", "2027-10-01", "-1", "shifted;provisional"),
            row("Mon 2027-10-04", "2027-10-04", "0", "provisional"),
            row("Thu 2027-10-07", "2027-10-07", "0", "provisional"),
        ]
    );
    assert!(
        run.stderr.contains(
            "warning: site guangzhou: its calendar does not cover 2027-09-28 (it covers 2024-01-01 to 2026-12-31): there it expects China's statutory public holidays (the law's days), but not the make-up working days and bridging days a year's notice adds, so those events are flagged provisional"
        ),
        "{}",
        run.stderr
    );
    let table = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        "2027-09-28",
        &["--site", "guangzhou"],
    );
    table.expect_code(0);
    let out = table.out();
    for needle in [
        "moved from Fri 2027-10-01 (closed: National Day 国庆节, expected), 1 day earlier",
        "provisional: the site calendar's holiday files do not cover this date (China's statutory public holidays expected; make-up and bridging days not known)",
    ] {
        assert!(out.contains(needle), "{needle}\n{out}");
    }

    let dir = tempfile::tempdir().unwrap();
    files_only_calendar(dir.path());
    let before = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        "2027-09-28",
        &[
            "--site",
            "files-only",
            "--format",
            "csv",
            "--calendars",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(
        infusions(&before)[1],
        row("Fri 2027-10-01", "2027-10-01", "0", "provisional"),
        "without expected holidays, National Day 2027 was a working day"
    );
}

/// Spring Festival 2027 (the eve, Friday 5 February, to Monday 8 February): day 7 from
/// Monday 1 February falls on Sunday the 7th; Saturday 6th and Monday 8th, its only days in
/// reach, are Spring Festival too, so it stays, flagged closed_day and provisional, and is
/// warned about by name. Without expected holidays it moved onto Monday 8 February.
#[test]
fn spring_festival_2027_is_closed_and_flagged_provisional() {
    let run = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        "2027-02-01",
        &["--site", "guangzhou", "--format", "csv"],
    );
    assert_eq!(
        infusions(&run),
        vec![
            row("Mon 2027-02-01", "2027-02-01", "0", "provisional"),
            row("Thu 2027-02-04", "2027-02-04", "0", "provisional"),
            row(
                "Sun 2027-02-07",
                "2027-02-07",
                "0",
                "closed_day;no_open_day_in_window;provisional"
            ),
            row("Wed 2027-02-10", "2027-02-10", "0", "provisional"),
        ]
    );
    assert!(
        run.stderr.contains(
            "patient patient: hUC-MSC infusion 3/4 stays on Sun 2027-02-07, a day site guangzhou is closed (Spring Festival 春节, expected): no open day in its window"
        ),
        "{}",
        run.stderr
    );
    let dir = tempfile::tempdir().unwrap();
    files_only_calendar(dir.path());
    let before = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        "2027-02-01",
        &[
            "--site",
            "files-only",
            "--format",
            "csv",
            "--calendars",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_eq!(
        infusions(&before)[2],
        row("Mon 2027-02-08", "2027-02-07", "1", "shifted;provisional"),
        "without expected holidays, Spring Festival's third day was a working day"
    );
}

/// `calendars check` says, per calendar, what its holiday files cover and where only the
/// expected holidays speak for it; a calendar without them says nothing of the sort.
#[test]
fn calendars_check_names_the_years_of_expected_holidays_only() {
    let run = run(["calendars", "check"]);
    run.expect_code(0);
    let out = run.out();
    for site in ["guangzhou", "shanghai", "beijing", "GZ-SYSU3", "SH-RENJI"] {
        let line = out
            .lines()
            .find(|l| l.contains(&format!("site {site}:")))
            .unwrap_or_else(|| panic!("{site}: {out}"));
        assert!(
            line.ends_with("covers 2024-01-01 to 2026-12-31; expected holidays only (China's statutory public holidays, provisional): 2008-01-01 to 2023-12-31, 2027-01-01 to 9999-12-31"),
            "{line}"
        );
    }
    let weekends = out.lines().find(|l| l.contains("site weekends:")).unwrap();
    assert!(!weekends.contains("expected"), "{weekends}");
}

/// An `expected_holidays` value dosesim does not know is refused with the file, line and
/// field, together with the file's other problems, exit 2.
#[test]
fn an_unknown_expected_holidays_value_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        "bad.toml",
        "name = \"Bad\"\nclosed_weekdays = [\"Sat\", \"Sun\"]\nexpected_holidays = \"China\"\ncovers = \"2026-01-01..2025-12-31\"\n",
    );
    let run = run([
        "calendars".as_ref(),
        "check".as_ref(),
        dir.path().as_os_str(),
    ]);
    run.expect_code(2);
    for needle in [
        "bad.toml:3: expected_holidays: 'China' is not a country whose holidays dosesim knows: use \"cn\" (China's statutory public holidays)",
        "bad.toml:4: covers:",
    ] {
        assert!(run.stderr.contains(needle), "{needle}\n{}", run.stderr);
    }
}
