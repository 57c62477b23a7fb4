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
