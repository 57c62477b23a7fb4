//! `dosesim serve`'s coordinators' pages over HTTP on a random loopback port: enrolment, a
//! patient's page and forms, corrections and voids, the audit trail, and who may do what.

use crate::common::web::{Reply, Site, TRIAL};

const PATIENTS: &str = "/trials/NCT01724398/patients";
const P26: &str = "/trials/NCT01724398/patients/P4398-026";

fn enrol(c: &mut crate::common::web::Client, id: &str, arm: &str, kg: &str) -> Reply {
    c.post(
        PATIENTS,
        PATIENTS,
        &[
            ("patient", id),
            ("arm", arm),
            ("weight_kg", kg),
            ("start_date", "2026-12-03"),
            ("site", "GZ-SYSU3"),
        ],
    )
}

fn record(c: &mut crate::common::web::Client, fields: &[(&str, &str)]) -> Reply {
    c.post(P26, &format!("{P26}/record"), fields)
}

/// The number of the entry in effect whose row of the patient page's table of entries
/// contains `text` (its "/entries/N/correct" link).
fn entry_with(page: &str, text: &str) -> String {
    let at = page
        .find(text)
        .unwrap_or_else(|| panic!("no {text} on the page"));
    let after = &page[at..];
    let k = after.find("/entries/").expect("a correct or void link") + "/entries/".len();
    after[k..].split('/').next().unwrap().to_string()
}

#[test]
fn a_coordinator_enrols_a_patient_seen_on_the_page_and_by_the_cli() {
    let site = Site::new();
    let mut c = site.client("coord");
    let page = c.get(PATIENTS);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("P4398-001") && page.body.contains("on study"));
    assert!(page.body.contains("for=\"f-weight_kg\""), "labelled inputs");
    let r = enrol(&mut c, "P4398-900", "msc", "61.5");
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        r.location()
            .unwrap()
            .starts_with("/trials/NCT01724398/patients/P4398-900")
    );
    let p = c.follow(&r);
    assert_eq!(p.status, 200);
    assert!(p.body.contains("P4398-900 enrolled"), "{}", p.body);
    assert!(p.body.contains("<svg"), "the chart");
    assert!(p.body.contains("cells"), "doses with their unit");
    assert!(c.get(PATIENTS).body.contains("P4398-900"));
    let out = site.cli(&["roster", "export", TRIAL]);
    assert!(
        out.contains("P4398-900,msc,61.5,2026-12-03,GZ-SYSU3"),
        "{out}"
    );
}

#[test]
fn enrol_errors_are_shown_beside_their_fields_and_nothing_is_written() {
    let site = Site::new();
    let mut c = site.client("coord");
    let before = site.cli(&["roster", "export", TRIAL]);
    let r = enrol(&mut c, "P4398-901", "nosucharm", "heavy");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("id=\"e-arm\""),
        "the arm's error beside it: {}",
        r.body
    );
    assert!(
        r.body.contains("id=\"e-weight_kg\""),
        "the weight's error beside it"
    );
    assert!(r.body.contains("value=\"heavy\""), "what was typed is kept");
    let r = enrol(&mut c, "P4398-001", "msc", "60");
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"e-patient\""), "{}", r.body);
    assert!(r.body.contains("already on the roster"), "{}", r.body);
    assert_eq!(site.cli(&["roster", "export", TRIAL]), before);
}

#[test]
fn a_weight_is_recorded_and_an_end_stops_later_rows() {
    let site = Site::new();
    let mut c = site.client("coord");
    let r = record(
        &mut c,
        &[
            ("record", "weight"),
            ("date", "2026-11-30"),
            ("amount", "74.2"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let page = c.follow(&r);
    assert!(page.body.contains("74.2 kg"), "{}", page.body);
    let list = site.cli(&["record", "list", "P4398-026"]);
    assert!(list.contains("74.2"), "{list}");
    let r = record(
        &mut c,
        &[
            ("record", "withdrawn"),
            ("date", "2026-12-01"),
            ("note", "consent withdrawn"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(c.follow(&r).body.contains("withdrawn on 2026-12-01"));
    let r = record(
        &mut c,
        &[
            ("record", "weight"),
            ("date", "2026-12-03"),
            ("amount", "70"),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("Nothing was recorded") || r.body.contains("field-error"));
    assert!(
        !site
            .cli(&["record", "list", "P4398-026"])
            .contains("2026-12-03")
    );
    // A date after today, beside the date field of its form.
    let r = record(
        &mut c,
        &[
            ("record", "weight"),
            ("date", "2099-01-01"),
            ("amount", "70"),
        ],
    );
    assert_eq!(r.status, 422);
    assert!(r.body.contains("id=\"weight-date-error\""), "{}", r.body);
}

#[test]
fn a_correction_keeps_the_old_value_and_a_void_takes_an_entry_out() {
    let site = Site::new();
    let mut c = site.client("coord");
    let r = record(
        &mut c,
        &[
            ("record", "weight"),
            ("date", "2026-11-30"),
            ("amount", "74.2"),
        ],
    );
    let page = c.follow(&r);
    let id = entry_with(&page.body, ">74.2 kg</td>");
    let form = format!("/entries/{id}/correct");
    let f = c.get(&form);
    assert_eq!(f.status, 200);
    assert!(f.body.contains("value=\"74.2\""), "prefilled: {}", f.body);
    // No reason: refused beside the field, nothing written.
    let fields = |reason: &'static str| {
        vec![
            ("date", "2026-11-30"),
            ("record", "weight"),
            ("component", ""),
            ("occurrence", ""),
            ("amount", "47.2"),
            ("note", ""),
            ("reason", reason),
        ]
    };
    let r = c.post(&form, &form, &fields(" "));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("id=\"e-reason\""), "{}", r.body);
    assert!(!site.cli(&["record", "list", "P4398-026"]).contains("47.2"));
    let r = c.post(&form, &form, &fields("digits swapped"));
    assert_eq!(r.status, 303, "{}", r.body);
    let page = c.follow(&r);
    assert!(page.body.contains("Corrected or voided"), "{}", page.body);
    assert!(page.body.contains("74.2 kg") && page.body.contains("47.2 kg"));
    assert!(page.body.contains("digits swapped"));
    let history = site.cli(&["record", "history", "P4398-026"]);
    assert!(
        history.contains("74.2") && history.contains("47.2"),
        "{history}"
    );
    let audit = c.get("/trials/NCT01724398/audit?patient=P4398-026");
    assert_eq!(audit.status, 200);
    assert!(audit.body.contains("corrected by"), "{}", audit.body);
    assert!(audit.body.contains("digits swapped"));
    // The corrected weight voided.
    let new = entry_with(&page.body, ">47.2 kg</td>");
    let void = format!("/entries/{new}/void");
    let v = c.get(&void);
    assert!(v.body.contains("47.2 kg"), "shows what will be voided");
    let r = c.post(&void, &void, &[("reason", "")]);
    assert_eq!(r.status, 422);
    let r = c.post(&void, &void, &[("reason", "weighed the wrong patient")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!site.cli(&["record", "list", "P4398-026"]).contains("47.2"));
    let csv = c.get("/trials/NCT01724398/audit?patient=P4398-026&format=csv");
    assert!(
        csv.body.starts_with("entry,entered_at,entered_by"),
        "{}",
        csv.body
    );
    assert!(csv.body.contains("weighed the wrong patient") && csv.body.contains("voided by"));
}

#[test]
fn the_audit_trail_is_filtered_by_patient_and_date() {
    let site = Site::new();
    let mut c = site.client("viewer");
    let all = c.get("/trials/NCT01724398/audit");
    assert_eq!(all.status, 200);
    assert!(all.body.contains("P4398-002") && all.body.contains("P4398-024"));
    let one = c.get("/trials/NCT01724398/audit?patient=P4398-024");
    assert!(one.body.contains("P4398-024") && !one.body.contains(">P4398-002<"));
    let none = c.get("/trials/NCT01724398/audit?to=2000-01-01");
    assert!(none.body.contains("0 entries"), "{}", none.body);
    let bad = c.get("/trials/NCT01724398/audit?from=yesterday");
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"e-from\""));
}

#[test]
fn only_a_coordinator_or_an_admin_enrols_and_records() {
    let site = Site::new();
    for user in ["pharm1", "viewer"] {
        let mut c = site.client(user);
        assert_eq!(c.get(PATIENTS).status, 200, "{user} reads");
        assert_eq!(c.get(P26).status, 200, "{user} reads");
        assert_eq!(
            enrol(&mut c, "P4398-902", "msc", "60").status,
            403,
            "{user}"
        );
        let r = record(
            &mut c,
            &[
                ("record", "weight"),
                ("date", "2026-11-30"),
                ("amount", "70"),
            ],
        );
        assert_eq!(r.status, 403, "{user}");
        assert_eq!(
            c.get("/entries/2/correct").status,
            403,
            "{user}: a roster entry"
        );
    }
    // A coordinator may not record a dose: that is the pharmacy's.
    let mut c = site.client("coord");
    let r = record(
        &mut c,
        &[
            ("record", "given"),
            ("date", "2026-11-30"),
            ("component", "uc_msc"),
            ("occurrence", "1"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let mut a = site.client("admin");
    assert_eq!(enrol(&mut a, "P4398-903", "msc", "60").status, 303);
    assert!(!site.cli(&["roster", "export", TRIAL]).contains("P4398-902"));
    let mut anon = site.anonymous();
    for path in [
        PATIENTS,
        P26,
        "/trials/NCT01724398/audit",
        "/entries/2/void",
    ] {
        let r = anon.get(path);
        assert_eq!(r.status, 303, "{path}");
        assert!(r.location().unwrap().starts_with("/login"));
    }
}

#[test]
fn enrol_and_record_on_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let site = Site::on(dir, crate::common::postgres::fresh_database("web_pat"));
    let mut c = site.client("coord");
    let r = enrol(&mut c, "P4398-904", "pe", "66");
    assert_eq!(r.status, 303, "{}", r.body);
    let r = record(
        &mut c,
        &[
            ("record", "weight"),
            ("date", "2026-11-30"),
            ("amount", "75"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(
        site.cli(&["roster", "export", TRIAL])
            .contains("P4398-904,pe,66")
    );
    assert!(site.cli(&["record", "list", "P4398-026"]).contains("75"));
}
