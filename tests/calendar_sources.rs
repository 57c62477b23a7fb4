//! Site calendars' holiday files and keys, through the binary (`calendars check`, and
//! `calendar --site` for where the days land): .ics recurrences, durations and cancelled
//! events; unknown keys at every level; holiday names; holiday-cn years; the size, day and
//! source limits; and reading time that grows with the file's size only.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;

/// A folder of site calendars holding `site.toml` (`toml`) and the files `files`.
fn calendars(toml: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "site.toml", toml);
    for (name, text) in files {
        write_file(dir.path(), name, text);
    }
    dir
}

/// `dosesim calendars check DIR`.
fn check(dir: &Path) -> Run {
    run(["calendars".as_ref(), "check".as_ref(), dir.as_os_str()])
}

/// An .ics holiday file holding `events` (VEVENT lines).
fn ics(events: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{events}END:VCALENDAR\r\n")
}

/// Whether NCT04822922's first infusion, planned on `start`, falls on a closed day of the
/// site: moved off it, or flagged as on a closed day.
fn first_dose_closed(dir: &Path, start: &str) -> bool {
    let run = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        start,
        &[
            "--site",
            "site",
            "--calendars",
            dir.to_str().unwrap(),
            "--format",
            "csv",
        ],
    );
    run.expect_code(0);
    let (_, rows) = parse_csv(&run.stdout);
    let r = rows
        .iter()
        .find(|r| r.kind == "cell_infusion" && r.planned_date == start)
        .unwrap_or_else(|| panic!("no infusion planned on {start}: {}", run.out()));
    r.shift_days != "0" || r.flags.contains("closed_day")
}

/// A weekly closure with no end closes every Monday (not its first only); DURATION:P3D
/// closes three days; a STATUS:CANCELLED event closes nothing; RDATE adds a day and
/// EXDATE takes one out. The site has no closed weekdays, so only the .ics closes a day.
#[test]
fn ics_recurrences_durations_and_cancelled_events_close_the_days_they_say() {
    let events = concat!(
        "BEGIN:VEVENT\r\nUID:mon\r\nSUMMARY:Lab closed on Mondays\r\nDTSTART;VALUE=DATE:20261005\r\n",
        "RRULE:FREQ=WEEKLY;BYDAY=MO\r\nEXDATE;VALUE=DATE:20261116\r\nEND:VEVENT\r\n",
        "BEGIN:VEVENT\r\nUID:audit\r\nSUMMARY:Audit\r\nDTSTART;VALUE=DATE:20261104\r\nDURATION:P3D\r\nEND:VEVENT\r\n",
        "BEGIN:VEVENT\r\nUID:cancelled\r\nSUMMARY:Training\r\nSTATUS:CANCELLED\r\nDTSTART;VALUE=DATE:20261110\r\nEND:VEVENT\r\n",
        "BEGIN:VEVENT\r\nUID:extra\r\nSUMMARY:Cleaning\r\nDTSTART;VALUE=DATE:20260901\r\nRDATE;VALUE=DATE:20261112\r\nEND:VEVENT\r\n",
    );
    let dir = calendars(
        "name = \"Site\"\nsources = [\"closures.ics\"]\n",
        &[("closures.ics", &ics(events))],
    );
    check(dir.path()).expect_code(0);
    for (start, closed, why) in [
        ("2026-11-02", true, "a Monday of the weekly rule"),
        ("2026-11-23", true, "a Monday of the weekly rule"),
        (
            "2027-06-07",
            true,
            "a Monday of the weekly rule, the next year",
        ),
        ("2026-11-16", false, "the Monday its EXDATE takes out"),
        ("2026-11-03", false, "a Tuesday"),
        ("2026-11-05", true, "the 2nd day of DURATION:P3D"),
        ("2026-11-06", true, "the 3rd day of DURATION:P3D"),
        ("2026-11-10", false, "a cancelled event"),
        ("2026-11-12", true, "an RDATE"),
    ] {
        assert_eq!(
            first_dose_closed(dir.path(), start),
            closed,
            "{start}: {why}"
        );
    }
}

/// What the .ics reader does not understand is refused with the file, the line and the
/// property, never read as something else (`calendars check` said OK to all of these).
#[test]
fn an_ics_holiday_file_refuses_what_it_does_not_understand_with_its_line() {
    let events = concat!(
        "BEGIN:VEVENT\r\nSUMMARY:Hourly\r\nDTSTART;VALUE=DATE:20260105\r\nRRULE:FREQ=HOURLY\r\nEND:VEVENT\r\n",
        "BEGIN:VEVENT\r\nSUMMARY:Long\r\nDTSTART;VALUE=DATE:20260105\r\nDURATION:PT36H\r\nEND:VEVENT\r\n",
        "BEGIN:VEVENT\r\nSUMMARY:Until\r\nDTSTART;VALUE=DATE:20260105\r\nRRULE:FREQ=WEEKLY;UNTIL=20260301T000000Z\r\nEND:VEVENT\r\n",
        "BEGIN:VEVENT\r\nSUMMARY:Excluded\r\nDTSTART;VALUE=DATE:20260105\r\nEXRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\n",
    );
    let dir = calendars(
        "name = \"Site\"\nsources = [\"bad.ics\"]\n",
        &[("bad.ics", &ics(events))],
    );
    let run = check(dir.path());
    run.expect_code(2);
    assert!(run.out().contains("BAD "), "{}", run.out());
    for needle in [
        "bad.ics:7: RRULE: 'FREQ=HOURLY' repeats within a day",
        "bad.ics:12: DURATION: 'PT36H' is not a whole number of days or weeks",
        "bad.ics:17: RRULE: UNTIL=20260301T000000Z is not a date",
        "bad.ics:22: EXRULE (withdrawn from iCalendar by RFC 5545) is not read",
    ] {
        assert!(run.stderr.contains(needle), "{needle}\n{}", run.stderr);
    }
}

/// A misspelt key in a source table (`open_if_summary` for `open_if_summary_starts_with`)
/// made holiday-cn's make-up Saturday 2026-10-10 a closed day without a word; now it and
/// an unknown key of a date table are refused, with the line, the key and the key meant,
/// by `calendars check` and by a command that uses the calendar.
#[test]
fn unknown_keys_of_source_and_date_tables_are_refused_with_the_key_meant() {
    let holidays = root().join("scenarios/calendars/holidays/cn-2026.ics");
    let dir = calendars(
        &format!(
            "name = \"Site\"\nclosed_weekdays = [\"Sat\", \"Sun\"]\nsources = [\n  {{ file = \"{}\", open_if_summary = \"上班\" }},\n]\nclosed = [{{ date = \"2026-11-30\", nmae = \"Lab maintenance\" }}]\nexpected_holiday = \"cn\"\n",
            holidays.display()
        ),
        &[],
    );
    let run = check(dir.path());
    run.expect_code(2);
    for needle in [
        "site.toml:4: sources[0]: unknown key 'open_if_summary': did you mean 'open_if_summary_starts_with'? (a source table has the keys file, open_if_summary_starts_with)",
        "site.toml:6: closed[0]: unknown key 'nmae': did you mean 'name'? (a date table has the keys date, name)",
        "site.toml:7: unknown key 'expected_holiday': did you mean 'expected_holidays'?",
    ] {
        assert!(run.stderr.contains(needle), "{needle}\n{}", run.stderr);
    }
    let run = calendar(
        "scenarios/nct04822922.toml",
        "high",
        "60",
        "2026-10-01",
        &[
            "--site",
            "site",
            "--calendars",
            dir.path().to_str().unwrap(),
        ],
    );
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("did you mean 'open_if_summary_starts_with'?"),
        "{}",
        run.stderr
    );
}

/// A carriage return in a holiday's name would reach the DESCRIPTION of calendar.ics
/// ("moved from ... (closed: NAME)") raw, where a reader that ends lines at CR sees a
/// property of its own. Names from every source are held to scenario text's rules.
#[test]
fn holiday_names_with_control_characters_are_refused_from_every_source() {
    let json = "{\n  \"year\": 2026,\n  \"days\": [\n    {\n      \"name\": \"国庆节\\r\\nATTENDEE:mailto:x@example.org\",\n      \"date\": \"2026-10-01\",\n      \"isOffDay\": true\n    }\n  ]\n}\n";
    let events = "BEGIN:VEVENT\r\nSUMMARY:Closed\\nATTENDEE:mailto:x@example.org\r\nDTSTART;VALUE=DATE:20261001\r\nEND:VEVENT\r\n";
    let csv = "date,name,open\n2026-10-01,\"Closed\rATTENDEE:mailto:x@example.org\",false\n";
    let dir = calendars(
        "name = \"Site\"\nsources = [\"h.json\", \"h.ics\", \"h.csv\"]\nclosed = [{ date = \"2026-11-30\", name = \"Lab\\rATTENDEE:mailto:x@example.org\" }]\n",
        &[("h.json", json), ("h.ics", &ics(events)), ("h.csv", csv)],
    );
    let run = check(dir.path());
    run.expect_code(2);
    for needle in [
        "h.json:5: days[0].name: the name contains the control character U+000D",
        "h.ics:5: SUMMARY: the name contains the control character U+000A",
        "h.csv:2: name: the name contains the control character U+000D",
        "site.toml:3: closed[0].name: contains the control character U+000D",
    ] {
        assert!(run.stderr.contains(needle), "{needle}\n{}", run.stderr);
    }
}

/// A holiday-cn file of year -1 or 0 is refused (dates before year 1 are no calendar's).
#[test]
fn holiday_cn_years_minus_one_and_zero_are_refused() {
    for year in ["-1", "0"] {
        let json = format!(
            "{{\"year\": {year}, \"days\": [{{\"name\": \"x\", \"date\": \"2026-10-01\", \"isOffDay\": true}}]}}"
        );
        let dir = calendars(
            "name = \"Site\"\nsources = [\"h.json\"]\n",
            &[("h.json", &json)],
        );
        let run = check(dir.path());
        run.expect_code(2);
        assert!(
            run.stderr.contains(&format!(
                "h.json: year: {year} is not a year dosesim reads: holiday-cn names a year from 1 to 9999"
            )),
            "{}",
            run.stderr
        );
    }
}

/// `--as-of 2099-01-01` for a record of 2027 makes every event up to 2099 overdue: it is
/// said in words, with the record's latest date.
#[test]
fn an_as_of_far_past_the_record_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let log = write_file(
        dir.path(),
        "log.csv",
        "patient_id,date,record,component,occurrence,amount,note\nP1,2027-03-01,given,pe,1,,\n",
    );
    let args = [
        "--format",
        "csv",
        "--patient",
        "P1",
        "--log",
        log.to_str().unwrap(),
    ];
    let far = calendar(
        "scenarios/nct01724398.toml",
        "pe",
        "60",
        "2027-03-01",
        &[&args[..], &["--as-of", "2099-01-01"]].concat(),
    );
    far.expect_code(0);
    assert!(
        far.warnings().iter().any(|w| w.contains(
            "--as-of 2099-01-01 is 26239 days (about 71 years) after the record's latest date, 2027-03-01: every event up to it with nothing recorded counts as overdue; is the year right?"
        )),
        "{}",
        far.stderr
    );
    // An as-of a few days on says nothing of the kind.
    let near = calendar(
        "scenarios/nct01724398.toml",
        "pe",
        "60",
        "2027-03-01",
        &[&args[..], &["--as-of", "2027-03-10"]].concat(),
    );
    near.expect_code(0);
    assert!(
        !near.stderr.contains("is the year right"),
        "{}",
        near.stderr
    );
}

/// 1,000 ten-year closed ranges over years 1 to 9999 took 948 MB; a 3.6M-row CSV holiday
/// file 920 MB. The days a calendar lists are counted as they are read, and past the limit
/// the calendar is refused before it takes their memory; a holiday file past its size limit
/// is refused before it is read, `/dev/zero` too.
#[test]
fn calendars_past_the_day_and_size_limits_are_refused_before_they_take_memory() {
    let ranges: Vec<String> = (0..1000)
        .map(|k| {
            let y = (1 + k * 10).min(9990);
            format!("\"{y:04}-01-01..{:04}-12-31\"", y + 9)
        })
        .collect();
    let dir = calendars(
        &format!("name = \"Site\"\nclosed = [\n{}\n]\n", ranges.join(",\n")),
        &[],
    );
    let t = Instant::now();
    let run = check(dir.path());
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("site.toml:30: closed[27]: here the site calendar passes 100000 listed days"),
        "{}",
        run.stderr
    );
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());

    // Rows: 150,000 days in a 3 MB file pass the day limit; 560,000 pass the size limit.
    let rows = |n: usize| {
        let mut s = String::from("date,name,open\n");
        for k in 0..n {
            s.push_str(&format!("{:04}-01-01,x,false\n", 1 + k % 9999));
        }
        s
    };
    let dir = calendars(
        "name = \"Site\"\nsources = [\"h.csv\"]\n",
        &[("h.csv", &rows(150_000))],
    );
    let run = check(dir.path());
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("h.csv:100002: here the site calendar passes 100000 listed days"),
        "{}",
        run.stderr
    );
    let dir = calendars(
        "name = \"Site\"\nsources = [\"h.csv\"]\n",
        &[("h.csv", &rows(560_000))],
    );
    let run = check(dir.path());
    run.expect_code(2);
    assert!(
        run.stderr.contains("site.toml:2: sources[0]: the file is over 10485760 bytes; a holiday file may be at most 10485760 bytes"),
        "{}",
        run.stderr
    );
    #[cfg(unix)]
    {
        let dir = calendars("name = \"Site\"\nsources = [\"zero.json\"]\n", &[]);
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.json")).unwrap();
        let run = check(dir.path());
        run.expect_code(2);
        assert!(
            run.stderr.contains("the file is over 10485760 bytes"),
            "{}",
            run.stderr
        );
    }
    // A site calendar past its own limit.
    let dir = calendars(
        &format!("name = \"Site\"\n# {}\n", "x".repeat(1 << 20)),
        &[],
    );
    let run = check(dir.path());
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("a site calendar may be at most 1048576 bytes"),
        "{}",
        run.stderr
    );
}

/// A holiday name of 4 million characters took 6.6 s to write as .ics; names are held to
/// the limit on names in scenarios (300 characters).
#[test]
fn a_holiday_name_past_the_name_limit_is_refused() {
    let json = format!(
        "{{\"year\": 2026, \"days\": [{{\"name\": \"{}\", \"date\": \"2026-10-01\", \"isOffDay\": true}}]}}",
        "x".repeat(4_000_000)
    );
    let dir = calendars(
        "name = \"Site\"\nsources = [\"h.json\"]\n",
        &[("h.json", &json)],
    );
    let run = check(dir.path());
    run.expect_code(2);
    assert!(
        run.stderr.contains("h.json:1: days[0].name: the name is 4000000 characters long; a holiday or closure name may have at most 300"),
        "{}",
        run.stderr
    );
}

/// A file named 1,000 times in `sources`, missing, gave 1,000 lines; it is read (or not)
/// once and said once, with how often it is named.
#[test]
fn a_source_named_a_thousand_times_is_said_once() {
    let sources = vec!["\"missing.json\""; 1000].join(", ");
    let dir = calendars(&format!("name = \"Site\"\nsources = [{sources}]\n"), &[]);
    let run = check(dir.path());
    run.expect_code(2);
    assert!(
        run.out().contains("site.toml  (2 problems)"),
        "{}",
        run.out()
    );
    assert!(
        run.stderr.contains("site.toml:2: sources[0]: cannot read"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("missing.json is named 1000 times: name each holiday file once"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.lines().count() <= 3, "{}", run.stderr);
}

/// The least processor time of `repeats` runs of `calendars check` on `dir` (see
/// [`cpu_time`]: other work on the machine does not lengthen it).
fn fastest(dir: &Path, repeats: usize) -> Duration {
    (0..repeats)
        .map(|_| {
            let (t, code) = cpu_time(["calendars".as_ref(), "check".as_ref(), dir.as_os_str()]);
            assert_eq!(code, Some(0), "calendars check {} failed", dir.display());
            t
        })
        .min()
        .unwrap()
}

/// How much longer a 10x larger file takes to check than the smaller one: linear reading
/// gives about 10 or less (the process's start is the same), quadratic about 100.
fn growth(file: &str, make: impl Fn(usize) -> String, small: usize) -> f64 {
    let toml = format!("name = \"Site\"\nsources = [\"{file}\"]\n");
    growth_of(|n| calendars(&toml, &[(file, &make(n))]), small)
}

/// As [`growth`], for calendar folders `make` builds at a size.
fn growth_of(make: impl Fn(usize) -> tempfile::TempDir, small: usize) -> f64 {
    let (a, b) = (make(small), make(small * 10));
    fastest(a.path(), 1); // warm the file cache and the binary
    // The two sizes take turns (a cache warmed for one weighs on both alike); the least
    // processor time of each counts.
    let (mut ta, mut tb) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        ta = ta.min(fastest(a.path(), 1));
        tb = tb.min(fastest(b.path(), 1));
    }
    tb.as_secs_f64() / ta.as_secs_f64()
}

/// A date of 2026, the `k`-th in turn.
fn day_of_2026(k: usize) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days((k % 365) as i64)
}

/// holiday-cn entries 10k / 20k / 40k took 0.9 / 3.5 / 14 s: each entry's line was found
/// by searching from the start of the file.
#[test]
fn reading_a_holiday_cn_file_takes_time_in_proportion_to_its_size() {
    let make = |n: usize| {
        let days: Vec<String> = (0..n)
            .map(|k| {
                format!(
                    "        {{\n            \"name\": \"国庆节\",\n            \"date\": \"{}\",\n            \"isOffDay\": true\n        }}",
                    day_of_2026(k)
                )
            })
            .collect();
        format!(
            "{{\n    \"year\": 2026,\n    \"days\": [\n{}\n    ]\n}}\n",
            days.join(",\n")
        )
    };
    let ratio = growth("h.json", make, 2_000);
    assert!(ratio < 20.0, "10x the entries took {ratio:.1}x the time");
}

/// .ics events 5k / 10k / 20k took 0.3 / 1.3 / 5.4 s.
#[test]
fn reading_an_ics_file_takes_time_in_proportion_to_its_size() {
    let make = |n: usize| {
        let events: String = (0..n)
            .map(|k| {
                let d = day_of_2026(k).format("%Y%m%d");
                format!(
                    "BEGIN:VEVENT\r\nSUMMARY:Closed {k}\r\nDTSTART;VALUE=DATE:{d}\r\nUID:{k}@test\r\nEND:VEVENT\r\n"
                )
            })
            .collect();
        ics(&events)
    };
    let ratio = growth("h.ics", make, 2_000);
    assert!(ratio < 20.0, "10x the events took {ratio:.1}x the time");
}

/// A holiday CSV (date,name,open) is read in one pass too.
#[test]
fn reading_a_holiday_csv_takes_time_in_proportion_to_its_size() {
    let make = |n: usize| {
        let rows: String = (0..n)
            .map(|k| format!("{},Closed {k},false\n", day_of_2026(k)))
            .collect();
        format!("date,name,open\n{rows}")
    };
    let ratio = growth("h.csv", make, 2_000);
    assert!(ratio < 20.0, "10x the rows took {ratio:.1}x the time");
}

/// A site calendar's own `closed` and `open` lists are read in one pass.
#[test]
fn reading_a_site_calendars_own_lists_takes_time_in_proportion_to_their_length() {
    let make = |n: usize| {
        let closed: Vec<String> = (0..n)
            .map(|k| {
                let d = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()
                    + chrono::Duration::days(2 * k as i64);
                format!("{{ date = \"{d}\", name = \"Closed {k}\" }}")
            })
            .collect();
        let open: Vec<String> = (0..n)
            .map(|k| {
                let d = chrono::NaiveDate::from_ymd_opt(2000, 1, 2).unwrap()
                    + chrono::Duration::days(2 * k as i64);
                format!("\"{d}\"")
            })
            .collect();
        calendars(
            &format!(
                "name = \"Site\"\nclosed = [{}]\nopen = [{}]\n",
                closed.join(", "),
                open.join(", ")
            ),
            &[],
        )
    };
    let ratio = growth_of(make, 1_000);
    assert!(ratio < 20.0, "10x the dates took {ratio:.1}x the time");
}

/// A holiday CSV as a Windows spreadsheet saves it: a byte-order mark, the header's names
/// capitalised, FALSE for false, CRLF line ends, a blank line: read as the roster and the
/// log are (one CSV reader), each bad cell named on its own line.
#[test]
fn a_holiday_csv_saved_by_a_windows_spreadsheet_names_the_right_lines() {
    let text = [
        "\u{feff}Date, Name ,Open",
        "2026-10-01,National Day,no",
        "",
        "2026-10-02,Golden week,FALSE",
        "2026-02-30,Typo,false",
        "",
    ]
    .join("\r\n");
    let dir = calendars(
        "name = \"Site\"\nsources = [\"h.csv\"]\n",
        &[("h.csv", &text)],
    );
    let run = check(dir.path());
    run.expect_code(2);
    let csv = dir.path().join("h.csv").display().to_string();
    for expected in [
        format!("{csv}:2: open: 'no' is not true or false"),
        format!("{csv}:5: date: '2026-02-30' is not a real calendar date"),
    ] {
        assert!(run.stderr.contains(&expected), "{expected}\n{}", run.stderr);
    }
    // FALSE, as the spreadsheet writes false, is read: line 4 is no problem.
    assert!(run.stderr.contains("2 problems:"), "{}", run.stderr);
    assert!(!run.stderr.contains(&format!("{csv}:4:")), "{}", run.stderr);
}

/// A holiday CSV's problems name the line the row is on, with CRLF line ends and blank
/// lines alike, in words: a short row, a value not true or false, a carriage return
/// inside a line.
#[test]
fn a_holiday_csvs_problems_are_said_in_words_on_their_own_lines() {
    for end in ["\n", "\r\n"] {
        let text = [
            "date,name,open",
            "2026-10-01,National Day,false",
            "2026-10-02,short",
            "",
            "2026-10-03,ab,maybe",
            "",
        ]
        .join(end);
        let dir = calendars(
            "name = \"Site\"\nsources = [\"h.csv\"]\n",
            &[("h.csv", &text)],
        );
        let run = check(dir.path());
        run.expect_code(2);
        let csv = dir.path().join("h.csv").display().to_string();
        for expected in [
            format!("{csv}:3: the row has 2 columns; a holiday CSV row has 3: date,name,open"),
            format!("{csv}:5: open: 'maybe' is not true or false"),
        ] {
            assert!(run.stderr.contains(&expected), "{expected}\n{}", run.stderr);
        }
        assert!(!run.stderr.contains("CSV error"), "{}", run.stderr);
    }
    let dir = calendars(
        "name = \"Site\"\nsources = [\"h.csv\"]\n",
        &[("h.csv", "date,name,open\n2026-10-01,a\rATTENDEE:x,false\n")],
    );
    let run = check(dir.path());
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("h.csv:2: a carriage return (control character U+000D) inside a line"),
        "{}",
        run.stderr
    );
}

/// A site calendar's `location`: refused, every bad one at once with its line, when it is
/// not one line of text; else it is the LOCATION of every event placed there, in the
/// patient's own file and in the trial's and site's calendars.
#[test]
fn a_site_calendars_location_is_checked_and_reaches_every_event() {
    let bad = [
        (
            "location = 302\n",
            "site.toml:3: location: is a number, not text: write where the patients come as one line of text",
        ),
        (
            "location = \"  \"\n",
            "site.toml:3: location: is empty: write where the patients come",
        ),
        (
            "location = \"Ward 5\\tBuilding 2\"\n",
            "site.toml:3: location: contains the control character U+0009",
        ),
        (
            "location = [\"Ward 5\"]\n",
            "site.toml:3: location: is a list, not text",
        ),
    ];
    for (line, needle) in bad {
        // With another problem of the file: both are said, in one run.
        let dir = calendars(
            &format!("name = \"Site\"\nclosed_weekdays = [\"Sat\", \"Sunday\"]\n{line}"),
            &[],
        );
        let run = check(dir.path());
        run.expect_code(2);
        assert!(run.stderr.contains(needle), "{needle}\n{}", run.stderr);
        assert!(
            run.stderr
                .contains("site.toml:2: closed_weekdays[1]: 'Sunday' is not a weekday"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("RawCalendar") && !run.stderr.contains("invalid type"));
    }
    let work = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let place = "Third Affiliated Hospital, Building 2; 600 Tianhe Road, Guangzhou";
    write_file(
        dir.path(),
        "GZ.toml",
        &format!(
            "name = \"Guangzhou\"\nclosed_weekdays = [\"Sat\", \"Sun\"]\ncovers = \"2024-01-01..2030-12-31\"\nlocation = \"{place}\"\n"
        ),
    );
    let checked = check(dir.path());
    checked.expect_code(0);
    assert!(
        checked
            .out()
            .contains(&format!("site GZ: Guangzhou; at {place}; closed Sat, Sun")),
        "{}",
        checked.out()
    );
    // Commas and semicolons escaped as RFC 5545 TEXT, the line folded at 75 octets.
    let written =
        "LOCATION:Third Affiliated Hospital\\, Building 2\\; 600 Tianhe Road\\, Guangzhou";
    let roster = write_file(
        work.path(),
        "r.csv",
        "patient_id,arm,weight_kg,start_date,site\nH1,high,60,2026-09-07,GZ\nH2,high,70,2026-09-07,\n",
    );
    let out = work.path().join("out");
    run([
        "cohort",
        "scenarios/nct04822922.toml",
        "--roster",
        roster.to_str().unwrap(),
        "--calendars",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .expect_code(0);
    let unfolded = |p: &Path| std::fs::read_to_string(p).unwrap().replace("\r\n ", "");
    let trial = out.join("NCT04822922");
    for (file, events) in [
        ("patients/H1.ics", 6),
        ("sites/GZ.ics", 6),
        ("calendar.ics", 6),
        ("patients/H2.ics", 0),
    ] {
        let text = unfolded(&trial.join(file));
        assert_eq!(
            text.matches(&format!("{written}\r\n")).count(),
            events,
            "{file}"
        );
    }
    let text = unfolded(&trial.join("calendar.ics"));
    assert_eq!(text.matches("BEGIN:VEVENT").count(), 12);
}
