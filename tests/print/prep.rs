//! The printable preparation sheet as a pharmacist prints it: every column and cell on paper,
//! the signature lines on the page of the last dose they sign for, each dose row whole on one
//! page, nothing beyond the margins, no page holding only a footer.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::browser::{self, Page};
use crate::common::*;

/// The CSV's dose rows, as maps from column to cell.
fn dose_rows(bytes: &[u8]) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(bytes);
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_string))
                .collect()
        })
        .filter(|row: &BTreeMap<String, String>| row["line"] == "dose")
        .collect()
}

/// The sheet of `args` as HTML and CSV in `dir`, printed: its pages and dose rows.
fn printed(dir: &Path, args: &[&str]) -> (Vec<Page>, Vec<BTreeMap<String, String>>) {
    let html = dir.join("sheet.html");
    let mut a = vec!["prep"];
    a.extend_from_slice(args);
    run([&a[..], &["--out", html.to_str().unwrap()]].concat()).expect_code(0);
    let csv = run([&a[..], &["--format", "csv"]].concat());
    csv.expect_code(0);
    let pdf = browser::print_to_pdf(&html);
    browser::screenshot(&html, 1280, 2400);
    (browser::pages(&pdf), dose_rows(&csv.stdout))
}

/// The page (0-based) whose text holds `what` first.
fn page_of(pages: &[Page], what: &str) -> usize {
    pages
        .iter()
        .position(|p| p.text.contains(what))
        .unwrap_or_else(|| panic!("'{what}' is on no printed page"))
}

/// The printed line of `patient`'s row on page `k`.
fn row_line<'a>(pages: &'a [Page], k: usize, patient: &str) -> &'a str {
    pages[k]
        .text
        .lines()
        .find(|l| l.trim_start().starts_with(patient))
        .unwrap_or_else(|| panic!("{patient}'s row is not on page {}", k + 1))
}

/// Every page holds some of a day's heading or doses: none holds only a footer.
fn no_footer_only_page(pages: &[Page]) {
    for (k, p) in pages.iter().enumerate() {
        assert!(
            p.text.contains("Preparation sheet") || p.text.contains("Patient"),
            "page {} holds no heading and no dose:\n{}",
            k + 1,
            p.text
        );
    }
}

#[test]
fn a_seven_dose_day_prints_every_header_and_cell_with_its_signatures_on_the_last_doses_page() {
    // NCT02812121's demo roster: Wed 2026-09-30 at GZ-SYSU has 7 ucb_msc doses.
    let dir = tempfile::tempdir().unwrap();
    let (pages, rows) = printed(
        dir.path(),
        &[
            "NCT02812121",
            "--roster",
            "scenarios/rosters/NCT02812121.csv",
            "--date",
            "2026-09-30",
        ],
    );
    assert_eq!(rows.len(), 7);
    let all: String = pages
        .iter()
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let words: Vec<&str> = all.split_whitespace().collect();
    for header in [
        "Patient",
        "Arm, component",
        "Dose n/N",
        "Weight (kg)",
        "Dose per kg (cells/kg)",
        "Dose (cells)",
        "Volume to draw (mL)",
        "Cumulative after it (cells)",
        "Flags",
        "Prepared ✓",
    ] {
        // A header wraps in its narrow column: each of its words is printed.
        for w in header.split_whitespace() {
            assert!(
                words.iter().any(|x| x.contains(w)),
                "header '{header}': '{w}' is not printed"
            );
        }
    }
    for r in &rows {
        let k = page_of(&pages, &r["patient_id"]);
        let line = row_line(&pages, k, &r["patient_id"]);
        for cell in [
            format!("{}/{}", r["occurrence"], r["occurrences"]),
            r["weight_kg"].clone(),
            r["dose"].clone(),
            r["cumulative_dose"].clone(),
            r["arm_id"].clone(),
        ] {
            assert!(
                line.contains(&cell),
                "{}: '{cell}' is not on its row: {line}",
                r["patient_id"]
            );
        }
        // The flags wrap in their column, on the row's page.
        for flag in r["flags"].split(';').chain([r["planned_date"].as_str()]) {
            let flag = flag.replace('_', " ");
            for w in flag.split_whitespace() {
                assert!(
                    pages[k].text.contains(w),
                    "{}: flag word '{w}' not on page {}",
                    r["patient_id"],
                    k + 1
                );
            }
        }
    }
    // The signature lines print on the page of the day's last dose, with the day's total.
    let last = page_of(&pages, &rows[6]["patient_id"]);
    for what in [
        "Day total: 7 doses",
        "Prepared by",
        "Checked by",
        "Signature",
        "Date and",
    ] {
        assert_eq!(
            page_of(&pages, what),
            last,
            "'{what}' is not on the last dose's page"
        );
    }
    no_footer_only_page(&pages);
    assert_eq!(browser::outside_margins(&pages, 34.0), Vec::<String>::new());
}

#[test]
fn a_busy_weeks_rows_print_whole_a_page_a_day_within_the_margins() {
    // 45 patients of NCT04822922 starting on Mon 2027-01-04 (15 an arm) fill the days of
    // their infusions past one page; 3 more start on Tuesday.
    let dir = tempfile::tempdir().unwrap();
    let arms = ["low", "middle", "high"];
    let mut lines: Vec<String> = (1..=45)
        .map(|i| format!("P{i:03},{},{}.5,2027-01-04", arms[i % 3], 50 + i))
        .collect();
    lines.extend((46..=48).map(|i| format!("P{i:03},high,70,2027-01-05")));
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let roster = write_roster(dir.path(), "r.csv", &refs);
    let (pages, rows) = printed(
        dir.path(),
        &[
            "NCT04822922",
            "--roster",
            roster.to_str().unwrap(),
            "--week",
            "2027-W01",
            "--concentration",
            "uc_msc=2.5e6",
        ],
    );
    let days: std::collections::BTreeSet<&str> = rows.iter().map(|r| r["date"].as_str()).collect();
    let heads: Vec<usize> = pages
        .iter()
        .map(|p| p.text.matches("Preparation sheet:").count())
        .collect();
    assert!(
        heads.iter().all(|&h| h <= 1),
        "a page holds two days: {heads:?}"
    );
    assert_eq!(heads.iter().sum::<usize>(), days.len(), "{heads:?}");
    assert_eq!(heads[0], 1, "the first page starts a day");
    assert!(
        pages.len() > days.len(),
        "some day runs past a page: {} pages",
        pages.len()
    );
    // Each dose row is printed once, whole: its patient, n/N, dose and cumulative dose on
    // one line.
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &pages {
        for line in p.text.lines() {
            let t = line.trim_start();
            if t.len() > 4 && t.starts_with('P') && t[1..4].chars().all(|c| c.is_ascii_digit()) {
                seen.entry(t[..4].to_string())
                    .or_default()
                    .push(line.to_string());
            }
        }
    }
    let mut by_patient: BTreeMap<&str, Vec<&BTreeMap<String, String>>> = BTreeMap::new();
    for r in &rows {
        by_patient.entry(&r["patient_id"]).or_default().push(r);
    }
    for (pid, rs) in by_patient {
        let printed = seen.get(pid).cloned().unwrap_or_default();
        assert_eq!(printed.len(), rs.len(), "{pid}: rows printed {printed:?}");
        for (r, line) in rs.iter().zip(&printed) {
            for want in [
                format!("{}/{}", r["occurrence"], r["occurrences"]),
                r["dose"].clone(),
                r["cumulative_dose"].clone(),
            ] {
                assert!(
                    line.contains(&want),
                    "{pid}: '{want}' is not on its row: {line}"
                );
            }
        }
    }
    // Every page of a day that runs on repeats the table's head; every day's signatures
    // share the page of its last dose.
    for (k, p) in pages.iter().enumerate() {
        if p.text.contains("P0") {
            assert!(
                p.text.contains("Patient"),
                "page {} has doses under no head",
                k + 1
            );
        }
    }
    for day in &days {
        let last = rows.iter().rev().find(|r| r["date"] == *day).unwrap();
        let k = pages
            .iter()
            .rposition(|p| {
                p.text
                    .lines()
                    .any(|l| l.trim_start().starts_with(&last["patient_id"]))
            })
            .unwrap();
        assert!(
            pages[k].text.contains("Checked by"),
            "{day}: no signatures on page {}",
            k + 1
        );
    }
    no_footer_only_page(&pages);
    assert_eq!(browser::outside_margins(&pages, 34.0), Vec::<String>::new());
}

#[test]
fn a_site_day_across_two_trials_keeps_its_signatures_with_its_last_dose() {
    // Two trials at GZ-SYSU3 on Mon 2026-09-07: 4 uc_msc doses of NCT04822922, then
    // NCT01724398's 4 uc_msc doses and 2 plasma exchanges, on one sheet.
    let dir = tempfile::tempdir().unwrap();
    let files = crate::prep::two_trials(dir.path());
    let [a, b] = files.each_ref().map(|f| f.to_str().unwrap());
    let (pages, rows) = printed(
        dir.path(),
        &[a, b, "--site", "GZ-SYSU3", "--date", "2026-09-07"],
    );
    assert_eq!(rows.len(), 10, "{rows:?}");
    for r in &rows {
        let k = page_of(&pages, &format!(" {} ", r["patient_id"]));
        assert!(
            pages[k].text.contains(&r["trial_id"]),
            "{}'s trial is not on its page",
            r["patient_id"]
        );
    }
    // The last dose printed is the last trial's last one: the day's totals across the
    // trials and the one pair of signature lines are on its page.
    let last = rows.last().unwrap();
    let page = page_of(&pages, &format!(" {} ", last["patient_id"]));
    let last_page = pages
        .iter()
        .rposition(|p| p.text.contains(&format!(" {} ", last["patient_id"])))
        .unwrap();
    for what in [
        "All trials' total (cells)",
        "Prepared by",
        "Checked by",
        "Date and",
    ] {
        assert!(
            (page..=last_page).contains(&page_of(&pages, what)),
            "'{what}' is not on the last dose's page"
        );
    }
    assert_eq!(
        pages
            .iter()
            .filter(|p| p.text.contains("Checked by"))
            .count(),
        1
    );
    no_footer_only_page(&pages);
    assert_eq!(browser::outside_margins(&pages, 34.0), Vec::<String>::new());
}
