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
    assert!(r.body.contains("already recorded as given"), "{}", r.body);
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

/// The entry id of the first `/entries/N/{what}` link after `text` on `page`.
fn entry_after(page: &str, text: &str, what: &str) -> String {
    let at = page
        .find(text)
        .unwrap_or_else(|| panic!("no {text}: {page}"));
    let link = format!("/{what}\"");
    let end = at + page[at..].find(&link).expect("a link after it");
    let start = page[..end].rfind("/entries/").unwrap() + "/entries/".len();
    page[start..end].to_string()
}

/// Voids the dose's preparation from the patient's page, as `who`.
fn void_preparation(site: &Site, who: &str) {
    let mut c = site.client(who);
    let patient = c.get(&format!("/trials/{TRIAL}/patients/{PATIENT}")).body;
    let id = entry_after(&patient, "data-label=\"Record\">prepared<", "void");
    let path = format!("/entries/{id}/void");
    let r = c.post(&path, &path, &[("reason", "wrong bag")]);
    assert_eq!(r.status, 303, "{}", r.body);
}

/// A check signs the preparation it was made for: once that preparation is voided, the
/// dose prepared again (another lot, by the one who checked the first) is not checked,
/// is not given, and is checked by the other pharmacist before it is.
#[test]
fn a_voided_preparation_takes_its_check_out_of_effect() {
    let site = Site::new();
    let mut p1 = site.client("pharm1");
    let mut p2 = site.client("pharm2");
    assert_eq!(prepare(&mut p1).status, 303);
    assert_eq!(check(&mut p2, LOT, PASSWORD).status, 303);
    void_preparation(&site, "pharm1");
    let page = p1.get(&day());
    assert!(page.body.contains("To prepare"), "{}", page.body);
    let r = p2.post(&day(), &step("prepare"), &dose(&[("lot", "OTHER")]));
    assert_eq!(r.status, 303, "{}", r.body);
    let page = p1.follow(&r);
    assert!(page.body.contains("Not checked yet"), "{}", page.body);
    assert!(
        !page.body.contains("(signed)"),
        "the old check is out of effect"
    );
    let given = |c: &mut Client, lot: &str| {
        c.post(
            &day(),
            &step("give"),
            &dose(&[("amount", "7560000"), ("time", "10:40"), ("lot", lot)]),
        )
    };
    for lot in ["OTHER", LOT] {
        let r = given(&mut p1, lot);
        assert_eq!(r.status, 422, "{lot}");
        assert!(r.body.contains("prepared but not checked"), "{}", r.body);
    }
    let r = check(&mut p2, "OTHER", PASSWORD);
    assert_eq!(r.status, 422, "the one who prepared it again");
    assert!(r.body.contains("not the one who prepared it"), "{}", r.body);
    assert!(!listed(&site).contains(DATE), "nothing given");
    assert_eq!(check(&mut p1, "OTHER", PASSWORD).status, 303);
    assert_eq!(given(&mut p1, LOT).status, 422, "not the lot prepared");
    let r = given(&mut p1, "OTHER");
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(listed(&site).contains("lot OTHER"));
}

/// Prepared and checked, then voided and prepared again with the same lot by the same
/// pharmacist: the first check does not sign the new preparation.
#[test]
fn a_dose_prepared_again_with_the_same_lot_is_checked_again() {
    let site = Site::new();
    let mut p1 = site.client("pharm1");
    assert_eq!(prepare(&mut p1).status, 303);
    assert_eq!(check(&mut site.client("pharm2"), LOT, PASSWORD).status, 303);
    void_preparation(&site, "pharm2");
    assert_eq!(prepare(&mut p1).status, 303);
    let r = give(&mut p1);
    assert_eq!(r.status, 422);
    assert!(r.body.contains("prepared but not checked"), "{}", r.body);
}

/// An amount left empty (or a space) is refused beside the amount field; a dose given is
/// stored with its amount, never as "the planned dose".
#[test]
fn a_dose_is_given_with_its_amount_stored() {
    let site = Site::new();
    let mut p1 = site.client("pharm1");
    assert_eq!(prepare(&mut p1).status, 303);
    assert_eq!(check(&mut site.client("pharm2"), LOT, PASSWORD).status, 303);
    for amount in ["", " "] {
        let r = p1.post(
            &day(),
            &step("give"),
            &dose(&[("amount", amount), ("time", "10:40"), ("lot", LOT)]),
        );
        assert_eq!(r.status, 422, "'{amount}'");
        assert!(
            r.body.contains("give the amount given, in cells"),
            "{}",
            r.body
        );
        assert!(
            r.body
                .contains("id=\"dose-P4398_026-uc_msc-1-amount-error\"")
        );
        assert!(
            r.body.contains("value=\"10:40\""),
            "the time typed is kept after another field's error"
        );
    }
    assert!(!listed(&site).contains(DATE), "nothing given");
    let r = p1.post(
        &day(),
        &step("give"),
        &dose(&[("amount", "7000000"), ("time", "9:05"), ("lot", LOT)]),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let list = listed(&site);
    let row = list
        .lines()
        .find(|l| l.contains(DATE) && l.contains("uc_msc"))
        .unwrap_or_else(|| panic!("no row given on {DATE}: {list}"));
    assert!(row.contains("7000000"), "the amount typed: {row}");
    assert!(row.contains("given at 09:05"), "the time as HH:MM: {row}");
}

/// A dose prepared and checked before the roster weight was corrected is not given: the
/// sheet's dose is now another; the day page says so beside the preparation.
#[test]
fn a_dose_prepared_before_the_prescription_changed_is_not_given() {
    let site = Site::new();
    let mut p1 = site.client("pharm1");
    assert_eq!(prepare(&mut p1).status, 303);
    assert_eq!(check(&mut site.client("pharm2"), LOT, PASSWORD).status, 303);
    let mut coord = site.client("coord");
    let patient = coord
        .get(&format!("/trials/{TRIAL}/patients/{PATIENT}"))
        .body;
    let id = entry_after(&patient, "75.6 kg", "correct");
    let path = format!("/entries/{id}/correct");
    let r = coord.post(
        &path,
        &path,
        &[
            ("arm", "msc"),
            ("weight_kg", "80"),
            ("start_date", DATE),
            ("site", "GZ-SYSU3"),
            ("reason", "weight misread"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let page = p1.get(&day());
    assert!(
        page.body.contains("as <b>7560000 cells</b>")
            && page
                .body
                .contains("The dose on the sheet is now 8000000 cells"),
        "{}",
        page.body
    );
    let r = give(&mut p1);
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains(
            "the dose on the sheet is now 8000000 cells; it was prepared as 7560000 cells before the prescription changed"
        ),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("id=\"dose-P4398_026-uc_msc-1-amount-error\"")
    );
    assert!(!listed(&site).contains(DATE), "nothing given");
    void_preparation(&site, "pharm1");
    assert!(p1.get(&day()).body.contains("To prepare"));
}

/// A time not H:MM or HH:MM, a lot id too long or with a line break, a dose number too
/// large: each refused beside its field, or named as typed.
#[test]
fn odd_times_lots_and_dose_numbers_are_refused_as_typed() {
    let site = Site::new();
    let mut p1 = site.client("pharm1");
    let long = "L".repeat(65);
    let r = p1.post(&day(), &step("prepare"), &dose(&[("lot", &long)]));
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains("at most 64 characters; this one has 65"),
        "{}",
        r.body
    );
    assert!(r.body.contains("id=\"dose-P4398_026-uc_msc-1-lot-error\""));
    let r = p1.post(&day(), &step("prepare"), &dose(&[("lot", "L1\nL2")]));
    assert_eq!(r.status, 422);
    assert!(r.body.contains("printable characters only"), "{}", r.body);
    assert_eq!(prepare(&mut p1).status, 303);
    assert_eq!(check(&mut site.client("pharm2"), LOT, PASSWORD).status, 303);
    for time in ["9:5", "24:00", "10.40", "10:40am", "1040"] {
        let r = p1.post(
            &day(),
            &step("give"),
            &dose(&[("amount", "7560000"), ("time", time), ("lot", LOT)]),
        );
        assert_eq!(r.status, 422, "{time}");
        assert!(r.body.contains("is not a time of day"), "{}", r.body);
        assert!(r.body.contains("id=\"dose-P4398_026-uc_msc-1-time-error\""));
        assert!(r.body.contains("Time given (HH:MM, 24-hour)"));
    }
    let huge = "99999999999999999999";
    let mut fields = dose(&[("lot", LOT)]);
    fields[2] = ("occurrence", huge);
    let r = p1.post(&day(), &step("prepare"), &fields);
    assert_eq!(r.status, 422);
    assert!(
        r.body
            .contains(&format!("Nothing was recorded for {PATIENT} uc_msc {huge}")),
        "{}",
        r.body
    );
    assert!(!listed(&site).contains(DATE), "nothing given");
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

/// The sheet opens on the date where the site is (the server's time zone), not UTC's: at
/// 07:30 in Guangzhou it is already the next day's sheet the pharmacy prepares.
#[test]
fn the_sheet_opens_on_today_in_the_server_s_time_zone() {
    let site = Site::new();
    for (tz, hours) in [("Asia/Shanghai", 8i64), ("Etc/GMT+12", -12)] {
        let (mut server, url) = crate::common::web::start_in(&site.db, &[], &[("TZ", tz)]);
        let local = || (chrono::Utc::now() + chrono::Duration::hours(hours)).date_naive();
        let before = local();
        let mut c = Client::new(&url);
        c.login("viewer", PASSWORD);
        let page = c.get(&format!("/trials/{TRIAL}/day"));
        let after = local();
        let _ = server.kill();
        let _ = server.wait();
        let shows = |d: chrono::NaiveDate| {
            page.body
                .contains(&format!("name=\"date\" type=\"date\" value=\"{d}\""))
        };
        assert!(shows(before) || shows(after), "{tz}: today is {before}");
    }
}
