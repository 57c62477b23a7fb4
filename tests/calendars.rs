//! `dosesim calendars check`: the bundled site calendars pass; a broken one is refused with
//! every problem, file, line and field, exit status 2.

mod common;

use common::*;

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

/// The roster's `site` column: each dose or visit planned on a day the site is closed is
/// warned about with its roster line and the closure's name, and dates past the calendar's
/// coverage once per site. The schedule itself is unchanged (it does not move them yet).
#[test]
fn events_on_closed_days_of_a_site_are_warned_about() {
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
    // Days 1/4/7/10 from Thursday 2026-10-01: day 1 is National Day, day 4 (Sunday 10-04)
    // too; day 10 is Saturday 2026-10-10, a make-up working day: open.
    for needle in [
        "r.csv:2: patient P1: hUC-MSC infusion 1/4 on Thu 2026-10-01, a day site guangzhou is closed (国庆节)",
        "r.csv:2: patient P1: hUC-MSC infusion 2/4 on Sun 2026-10-04, a day site guangzhou is closed (国庆节)",
        "r.csv:4: patient P3: hUC-MSC infusion 4/4 on Sat 2027-01-02, a day site weekends is closed (Saturday)",
        "warning: site guangzhou: its calendar does not cover 2027-03-01",
    ] {
        assert!(err.contains(needle), "{needle}\n{err}");
    }
    assert!(
        !err.contains("2026-10-10"),
        "a make-up working day is open: {err}"
    );
    assert!(!err.contains("patient P2"), "no site, no calendar: {err}");
    // Same schedule as without any calendar.
    let cols: Vec<std::ffi::OsString> = vec!["--calendars".into(), dir.path().join("none").into()];
    let no_sites_roster = write_file(
        dir.path(),
        "plain.csv",
        "patient_id,arm,weight_kg,start_date\nP1,high,60,2026-10-01\nP2,high,60,2026-10-01\nP3,low,60,2026-12-24\nP4,middle,60,2026-12-01\n",
    );
    let plain = pharmacy(
        scenario,
        &no_sites_roster,
        &[cols[0].as_os_str(), cols[1].as_os_str()],
    );
    plain.expect_code(0);
    assert_eq!(plain.stdout, with_sites.stdout);

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
