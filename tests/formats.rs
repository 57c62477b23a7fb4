//! The calendar in all four formats, as snapshots (tests/snapshots/formats__*.snap) of the
//! real binary's output, plus the properties a snapshot cannot show: iCalendar line ends
//! and line lengths (insta normalises CRLF to LF), and byte-identical repeated runs.
//!
//! The two calendars:
//! - NCT04822922 high, 62.5 kg, from 2026-12-30: 12 x 10^5 cells/kg = 75 000 000 cells on
//!   days 1, 4, 7, 10 (2026-12-30, 2027-01-02, -05, -08); visits day 31 (2027-01-29,
//!   assumed) and day 91 (2027-03-30).
//! - NCT01724398 msc-pe, 70 kg, from 2026-12-30: exchanges of 2000 mL on days 1, 4, 7
//!   (2026-12-30, 2027-01-02, -05); 1 x 10^5 cells/kg = 7 000 000 cells on days 1, 7, 14,
//!   21 (2026-12-30, 2027-01-05, -12, -19), the first two after the exchange (assumed
//!   timing); week 48 visit on day 337 (2027-12-01).
//! - NCT04822922 high from Thursday 2026-10-01 at the Guangzhou site: National Day closes
//!   1 to 7 October, so day 7 moves to Thursday 8 October and days 1 and 4 stay, flagged;
//!   Saturday 10 October is a make-up working day.

use crate::common::*;

const FORMATS: [&str; 4] = ["table", "csv", "json", "ics"];

struct Case {
    name: &'static str,
    scenario: &'static str,
    arm: &'static str,
    weight: &'static str,
    start: &'static str,
    /// Rows that are appointments (infusions, exchanges, visits; not background).
    appointments: usize,
    /// The site calendar, if any.
    site: Option<&'static str>,
}

const CASES: [Case; 3] = [
    Case {
        name: "nct04822922_high",
        scenario: "scenarios/nct04822922.toml",
        arm: "high",
        weight: "62.5",
        start: "2026-12-30",
        appointments: 4 + 2,
        site: None,
    },
    Case {
        name: "nct01724398_msc_pe",
        scenario: "scenarios/nct01724398.toml",
        arm: "msc-pe",
        weight: "70",
        start: "2026-12-30",
        appointments: 3 + 4 + 1,
        site: None,
    },
    Case {
        name: "nct04822922_high_guangzhou",
        scenario: "scenarios/nct04822922.toml",
        arm: "high",
        weight: "62.5",
        start: "2026-10-01",
        appointments: 4 + 2,
        site: Some("guangzhou"),
    },
];

fn render(c: &Case, format: &str) -> Run {
    // A calendar file needs a named patient; the others take the same for comparison.
    let mut extra = vec!["--format", format, "--patient", "P-0001"];
    if let Some(site) = c.site {
        extra.extend(["--site", site]);
    }
    let run = calendar(c.scenario, c.arm, c.weight, c.start, &extra);
    run.expect_code(0);
    run
}

#[test]
fn snapshots_of_every_format() {
    for c in &CASES {
        for format in FORMATS {
            let run = render(c, format);
            insta::assert_snapshot!(format!("{}_{format}", c.name), run.out());
        }
    }
}

#[test]
fn two_runs_give_identical_bytes() {
    for c in &CASES {
        for format in FORMATS {
            let a = render(c, format);
            let b = render(c, format);
            assert!(!a.stdout.is_empty());
            assert_eq!(a.stdout, b.stdout, "{} {format}", c.name);
            assert_eq!(a.stderr, b.stderr, "{} {format}", c.name);
        }
    }
}

#[test]
fn ics_lines_end_crlf_and_fit_75_octets() {
    for c in &CASES {
        let bytes = render(c, "ics").stdout;
        assert!(bytes.ends_with(b"\r\n"), "{}: last line ends CRLF", c.name);
        let lines: Vec<&[u8]> = bytes
            .strip_suffix(b"\r\n")
            .unwrap()
            .split(|&b| b == b'\n')
            .collect();
        for (i, line) in lines.iter().enumerate() {
            // Every line but the last was split at "\n": it must end in "\r".
            let content = if i + 1 < lines.len() {
                line.strip_suffix(b"\r")
                    .unwrap_or_else(|| panic!("{}: line {} lacks CR", c.name, i + 1))
            } else {
                line
            };
            assert!(
                !content.contains(&b'\r'),
                "{}: stray CR, line {}",
                c.name,
                i + 1
            );
            assert!(
                content.len() <= 75,
                "{}: line {} is {} octets: {}",
                c.name,
                i + 1,
                content.len(),
                String::from_utf8_lossy(content)
            );
        }
        // Unfolded (RFC 5545 3.1), the calendar has one VEVENT per appointment.
        let text = String::from_utf8(bytes).unwrap().replace("\r\n ", "");
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines.first(), Some(&"BEGIN:VCALENDAR"));
        assert_eq!(lines.iter().rev().nth(1), Some(&"END:VCALENDAR"));
        let count = |s: &str| lines.iter().filter(|l| **l == s).count();
        assert_eq!(count("BEGIN:VEVENT"), c.appointments, "{}", c.name);
        assert_eq!(count("END:VEVENT"), c.appointments, "{}", c.name);
        // Every appointment's date, from the CSV of the same calendar.
        let (_, rows) = parse_csv(&render(c, "csv").stdout);
        let mut want: Vec<String> = rows
            .iter()
            .filter(|r| r.kind != "background")
            .map(|r| format!("DTSTART;VALUE=DATE:{}", r.date.replace('-', "")))
            .collect();
        let mut got: Vec<String> = lines
            .iter()
            .filter(|l| l.starts_with("DTSTART"))
            .map(|l| l.to_string())
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{}", c.name);
        // UIDs are unique, so a re-import updates rather than duplicates.
        let mut uids: Vec<&&str> = lines.iter().filter(|l| l.starts_with("UID:")).collect();
        uids.sort();
        uids.dedup();
        assert_eq!(uids.len(), c.appointments, "{}", c.name);
    }
}

#[test]
fn table_headers_carry_units() {
    let out = render(&CASES[0], "table").out();
    for h in [
        "Study day",
        "Dose (cells or mL)",
        "Per kg (cells/kg)",
        "Cumulative (cells or mL)",
        "Volume (mL)",
        "Window (dates)",
    ] {
        assert!(out.contains(h), "header {h:?} missing:\n{out}");
    }
}
