//! The pharmacy's day page of `dosesim serve` over HTTP (the real binary on a random
//! loopback port): a dose prepared by one pharmacist, checked by another who signs with
//! their password, then given, and what is refused on the way; who may post; the print
//! view against `dosesim prep --format html`; and `record add` refusing the same unsafe
//! doses as the page.

use crate::common::web::{Client, PASSWORD, Site, TRIAL};
use crate::common::{dosesim, postgres::fresh_database};

/// A dose of the demo record's sheet for Mon 2026-11-23 (before today, 2026-12-05).
const DATE: &str = "2026-11-23";
const PATIENT: &str = "P4398-026";
const LOT: &str = "UCM-2611-03";

fn day() -> String {
    format!("/trials/{TRIAL}/day?date={DATE}")
}

fn step(name: &str) -> String {
    format!("/trials/{TRIAL}/doses/{name}")
}

/// The dose's hidden fields, as its forms carry them, with `more`.
fn dose<'a>(more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![
        ("patient", PATIENT),
        ("component", "uc_msc"),
        ("occurrence", "1"),
        ("date", DATE),
        ("from", DATE),
        ("days", "1"),
        ("site", ""),
    ];
    v.extend_from_slice(more);
    v
}

fn prepare(c: &mut Client) -> crate::common::web::Reply {
    c.post(&day(), &step("prepare"), &dose(&[("lot", LOT)]))
}

fn check(c: &mut Client, lot: &str, password: &str) -> crate::common::web::Reply {
    c.post(
        &day(),
        &step("check"),
        &dose(&[("lot", lot), ("password", password)]),
    )
}

fn give(c: &mut Client) -> crate::common::web::Reply {
    c.post(
        &day(),
        &step("give"),
        &dose(&[
            ("amount", "7560000"),
            ("time", "10:40"),
            ("lot", LOT),
            ("note", "no reaction"),
        ]),
    )
}

/// The record's rows of the patient, as `record list` prints them.
fn listed(site: &Site) -> String {
    site.cli(&["record", "list", PATIENT])
}

/// Prepared by pharm1, checked by pharm2 (password entered again), given by pharm1: the
/// CLI's record list shows the row given with its time and lot, and the day page shows
/// it recorded (and off the sheet's doses to prepare).
fn whole_flow(site: &Site) {
    let mut p1 = site.client("pharm1");
    let mut p2 = site.client("pharm2");
    let page = p1.get(&day());
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains("name=\"date\" type=\"date\" value=\"2026-11-23\"")
    );
    assert!(page.body.contains(PATIENT) && page.body.contains("To prepare"));
    assert!(
        page.body.contains("7560000"),
        "the dose to prepare, in cells"
    );

    let r = prepare(&mut p1);
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = p1.follow(&r);
    assert!(
        shown.body.contains("recorded as prepared"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains(&format!("lot <b>{LOT}</b>")));
    assert!(shown.body.contains("electronic signature"));

    let r = check(&mut p2, LOT, PASSWORD);
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = p2.follow(&r);
    assert!(
        shown.body.contains("Checked</b> by pharm2"),
        "{}",
        shown.body
    );

    let r = give(&mut p1);
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = p1.follow(&r);
    assert!(shown.body.contains("recorded as given"), "{}", shown.body);
    assert!(shown.body.contains("Recorded on these dates"));
    assert!(
        shown
            .body
            .contains("given at 10:40, lot UCM-2611-03; no reaction"),
        "{}",
        shown.body
    );
    assert!(
        !shown.body.contains("To prepare"),
        "off the sheet once given"
    );

    let list = listed(site);
    let row = list
        .lines()
        .find(|l| l.contains(DATE) && l.contains("uc_msc"))
        .unwrap_or_else(|| panic!("no row given on {DATE}: {list}"));
    assert!(row.contains("given") && row.contains("pharm1"), "{row}");
    assert!(row.contains("given at 10:40, lot UCM-2611-03"), "{row}");
}

#[test]
fn a_dose_prepared_checked_and_given_is_in_the_record_the_cli_reads() {
    whole_flow(&Site::new());
}

#[test]
fn the_flow_works_the_same_on_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    whole_flow(&Site::on(dir, fresh_database("web_day")));
}

#[test]
fn the_one_who_prepared_a_dose_cannot_check_it() {
    let site = Site::new();
    let mut p1 = site.client("pharm1");
    assert_eq!(prepare(&mut p1).status, 303);
    let r = check(&mut p1, LOT, PASSWORD);
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("a second person checks it, not the one who prepared it"),
        "{}",
        r.body
    );
    assert!(r.body.contains("Not checked yet"));
}

#[test]
fn a_wrong_signature_password_or_lot_records_nothing() {
    let site = Site::new();
    let mut p1 = site.client("pharm1");
    let mut p2 = site.client("pharm2");
    assert_eq!(prepare(&mut p1).status, 303);
    let before = site.cli(&["record", "verify"]);
    let r = check(&mut p2, LOT, "not-my-password");
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains("the password is not right: nothing was signed"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("aria-invalid=\"true\"") && r.body.contains("-password-error"),
        "the problem is beside the password field"
    );
    let r = check(&mut p2, "UCM-2611-04", PASSWORD);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("is not the lot prepared"), "{}", r.body);
    assert_eq!(site.cli(&["record", "verify"]), before, "nothing written");
    assert!(p2.get(&day()).body.contains("Not checked yet"));
}

#[test]
fn a_dose_is_not_given_before_it_is_checked_nor_given_twice() {
    let site = Site::new();
    let mut p1 = site.client("pharm1");
    let mut p2 = site.client("pharm2");
    let r = give(&mut p1);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("is not recorded as prepared"), "{}", r.body);
    assert_eq!(prepare(&mut p1).status, 303);
    let r = give(&mut p1);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("prepared but not checked"), "{}", r.body);
    assert!(!listed(&site).contains(DATE), "nothing recorded");
    assert_eq!(check(&mut p2, LOT, PASSWORD).status, 303);
    assert_eq!(give(&mut p1).status, 303);
    let r = give(&mut p2);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("recorded twice"), "{}", r.body);
    let given = listed(&site)
        .lines()
        .filter(|l| l.contains(DATE) && l.contains("uc_msc"))
        .count();
    assert_eq!(given, 1);
    // Prepared again once given: refused with what the record holds.
    let r = prepare(&mut p2);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("already recorded as given"), "{}", r.body);
}

#[test]
fn only_a_pharmacist_or_an_admin_records_a_dose() {
    let site = Site::new();
    for who in ["coord", "viewer"] {
        let mut c = site.client(who);
        let page = c.get(&day());
        assert_eq!(page.status, 200, "every role reads the day");
        assert!(
            !page.body.contains("Record prepared"),
            "no form for a {who}"
        );
        assert_eq!(prepare(&mut c).status, 403, "{who}");
    }
    let mut anon = site.anonymous();
    let r = anon.get(&day());
    assert_eq!(r.status, 303);
    assert!(r.location().unwrap().starts_with("/login"));
    let mut admin = site.client("admin");
    assert_eq!(prepare(&mut admin).status, 303);
}

#[test]
fn a_form_s_problems_are_beside_its_fields_with_what_was_typed() {
    let site = Site::new();
    let mut p1 = site.client("pharm1");
    let r = p1.post(&day(), &step("prepare"), &dose(&[("lot", "  ")]));
    assert_eq!(r.status, 422);
    assert!(r.body.contains("give the lot or bag id"), "{}", r.body);
    assert!(r.body.contains("id=\"dose-P4398_026-uc_msc-1-lot-error\""));
    assert_eq!(prepare(&mut p1).status, 303);
    assert_eq!(check(&mut site.client("pharm2"), LOT, PASSWORD).status, 303);
    let r = p1.post(
        &day(),
        &step("give"),
        &dose(&[
            ("amount", "lots"),
            ("time", "25:99"),
            ("lot", LOT),
            ("note", ""),
        ]),
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("is not a time of day"), "{}", r.body);
    assert!(r.body.contains("value=\"lots\""), "what was typed is kept");
    let r = p1.post(&day(), &step("miss"), &dose(&[("reason", "")]));
    assert_eq!(r.status, 422);
    assert!(r.body.contains("say why the dose was missed"), "{}", r.body);
    let r = p1.post(
        &day(),
        &step("miss"),
        &dose(&[("reason", "patient febrile")]),
    );
    assert_eq!(r.status, 303);
    assert!(listed(&site).contains("patient febrile"));
}

/// The sheet's table of the print view is the one `dosesim prep --format html` prints
/// for the same date from the same database.
#[test]
fn the_print_view_is_the_sheet_prep_prints() {
    let site = Site::new();
    let mut v = site.client("viewer");
    let r = v.get(&format!("/trials/{TRIAL}/day/print?date=2026-12-02"));
    assert_eq!(r.status, 200);
    let out = dosesim()
        .args(["prep", TRIAL, "--date", "2026-12-02", "--format", "html"])
        .args(["--db", &site.db])
        .output()
        .unwrap();
    assert!(out.status.success());
    let prep = String::from_utf8(out.stdout).unwrap();
    let table = |html: &str| -> String {
        let a = html.find("<table class=\"doses\"").expect("a doses table");
        let b = html[a..].find("</table>").unwrap();
        html[a..a + b].to_string()
    };
    assert_eq!(table(&r.body), table(&prep));
    assert!(r.body.contains("P4398-028"));
    assert!(!r.body.contains("<form"), "no forms on the print view");
}

/// `record add` refuses a second dose of a component on one day and one inside its
/// minimum gap, in the same words as the day page.
#[test]
fn record_add_refuses_the_unsafe_doses_the_page_refuses() {
    let site = Site::new();
    let add = |date: &str, occurrence: &str| {
        dosesim()
            .args([
                "record",
                "add",
                TRIAL,
                "--patient",
                "P4398-024",
                "--record",
                "given",
            ])
            .args([
                "--component",
                "uc_msc",
                "--occurrence",
                occurrence,
                "--date",
                date,
            ])
            .args(["--db", &site.db, "--by", "pharm1", "--quiet"])
            .output()
            .unwrap()
    };
    // uc_msc 2 was given on 2026-11-20.
    let same_day = add("2026-11-20", "3");
    assert_eq!(same_day.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&same_day.stderr);
    assert!(
        msg.contains("--date") && msg.contains("a second dose of a component on one day"),
        "{msg}"
    );
    let inside = add("2026-11-23", "3");
    assert_eq!(inside.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&inside.stderr);
    assert!(
        msg.contains("minimum gap of 5 days") && msg.contains("3 days after"),
        "{msg}"
    );
    let outside = add("2026-11-27", "3");
    assert!(
        outside.status.success(),
        "{}",
        String::from_utf8_lossy(&outside.stderr)
    );
}
