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
    // A taken id and a bad weight: both said at once, each beside its field.
    let r = enrol(&mut c, "P4398-001", "msc", "heavy");
    assert_eq!(r.status, 422);
    assert!(r.body.contains("already on the roster"), "{}", r.body);
    assert!(r.body.contains("id=\"e-weight_kg\""), "{}", r.body);
    assert!(
        !r.body.contains("P4398-001~"),
        "no stand-in id shown: {}",
        r.body
    );
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

const P24: &str = "/trials/NCT01724398/patients/P4398-024";
const P27: &str = "/trials/NCT01724398/patients/P4398-027";

/// P4398-027's first plasma exchange (day 1, 2026-11-28) recorded missed on the day's
/// sheet by pharm1: the missed row's entry.
fn missed_on_the_sheet(site: &Site) -> String {
    let mut p1 = site.client("pharm1");
    let day = "/trials/NCT01724398/day?date=2026-11-28";
    let r = p1.post(
        day,
        "/trials/NCT01724398/doses/miss",
        &[
            ("patient", "P4398-027"),
            ("component", "pe"),
            ("occurrence", "1"),
            ("date", "2026-11-28"),
            ("from", "2026-11-28"),
            ("days", "1"),
            ("site", ""),
            ("reason", "patient febrile"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    entry_with(&p1.get(P27).body, ">missed</td>")
}

/// A dose missed on the day's sheet cannot be corrected to given on the web (a dose is
/// given only once prepared and checked, on the sheet), for any role that may correct it;
/// nor can an admin record a dose given on the patient's page. Each is refused beside the
/// record field, and nothing is written. The CLI, where a paper record is entered, keeps
/// its behaviour.
#[test]
fn a_dose_is_made_given_only_on_the_day_sheet() {
    let site = Site::new();
    let missed = missed_on_the_sheet(&site);
    let form = format!("/entries/{missed}/correct");
    let typed = [
        ("date", "2026-11-28"),
        ("record", "given"),
        ("component", "pe"),
        ("occurrence", "1"),
        ("amount", "3000"),
        ("note", "given at 09:00, lot NEVER-CHECKED"),
        ("reason", "it was given after all"),
    ];
    for user in ["pharm1", "admin"] {
        let mut c = site.client(user);
        let r = c.post(&form, &form, &typed);
        assert_eq!(r.status, 422, "{user}: {}", r.body);
        assert!(
            r.body.contains(
                "a dose is recorded given on the day&#39;s sheet, after it is prepared and checked: open the day sheet for 2026-11-28"
            ) || r.body.contains(
                "a dose is recorded given on the day's sheet, after it is prepared and checked: open the day sheet for 2026-11-28"
            ),
            "{user}: {}",
            r.body
        );
        assert!(
            r.body.contains("id=\"e-record\""),
            "beside record: {}",
            r.body
        );
        assert!(r.body.contains("NEVER-CHECKED"), "what was typed is kept");
    }
    let mut a = site.client("admin");
    let r = a.post(
        P27,
        &format!("{P27}/record"),
        &[
            ("record", "given"),
            ("date", "2026-12-01"),
            ("component", "pe"),
            ("occurrence", "2"),
            ("amount", "3000"),
        ],
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body
            .contains("after it is prepared and checked: open the day sheet for 2026-12-01"),
        "{}",
        r.body
    );
    let list = site.cli(&["record", "list", "P4398-027"]);
    assert!(
        !list.contains("given") && !list.contains("NEVER-CHECKED"),
        "{list}"
    );
    // The CLI enters a paper record: the same correction is kept there.
    let out = site.cli(&[
        "record",
        "correct",
        &missed,
        "--record",
        "given",
        "--amount",
        "3000",
        "--note",
        "paper record: given at 09:00",
        "--reason",
        "paper record entered",
        "--by",
        "pharm1",
    ]);
    assert!(out.contains(&format!("corrects entry {missed}")), "{out}");
}

/// On the web, a given dose's note and date are still corrected (with their reason), the
/// correction's source saying it came from the web; a date inside the component's
/// minimum gap is refused beside the date field as `record add` refuses it; a void says
/// where it came from too.
#[test]
fn a_given_dose_is_corrected_on_the_web_outside_its_minimum_gap() {
    let site = Site::new();
    let mut p1 = site.client("pharm1");
    // uc_msc 1 was given 2026-11-14, uc_msc 2 2026-11-20 (a minimum gap of 5 days).
    let page = p1.get(P24).body;
    let at = page.find(">2026-11-20</td>").expect("the 2026-11-20 rows");
    let second = entry_with(&page[at..], ">uc_msc</td>");
    let form = format!("/entries/{second}/correct");
    let fields = |date: &'static str, note: &'static str| {
        vec![
            ("date", date),
            ("record", "given"),
            ("component", "uc_msc"),
            ("occurrence", "2"),
            ("amount", ""),
            ("note", note),
            ("reason", "date typed wrong"),
        ]
    };
    let r = p1.post(&form, &form, &fields("2026-11-15", ""));
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("id=\"e-date\""), "{}", r.body);
    assert!(
        r.body
            .contains("inside the component&#39;s minimum gap of 5 days")
            || r.body
                .contains("inside the component's minimum gap of 5 days"),
        "{}",
        r.body
    );
    assert!(
        !site
            .cli(&["record", "list", "P4398-024"])
            .contains("2026-11-15")
    );
    let r = p1.post(&form, &form, &fields("2026-11-20", "bag label checked"));
    assert_eq!(r.status, 303, "{}", r.body);
    let page = p1.follow(&r).body;
    let fixed = entry_with(&page, ">bag label checked</td>");
    let void = format!("/entries/{fixed}/void");
    let r = p1.post(&void, &void, &[("reason", "entered for the wrong patient")]);
    assert_eq!(r.status, 303, "{}", r.body);
    let history = site.cli(&["record", "history", "P4398-024", "--format", "csv"]);
    assert!(
        history.contains(",dosesim serve: correct,") && history.contains(",dosesim serve: void,"),
        "{history}"
    );
    assert!(!history.contains("record correct") && !history.contains("record void"));
}

/// A record the reader does not know ("Given", "cancelled") is named on the page, with
/// the words the record's reader gives, and nothing is written.
#[test]
fn an_unknown_record_is_named_on_the_patient_page() {
    let site = Site::new();
    let mut c = site.client("coord");
    let before = site.cli(&["record", "list", "P4398-026"]);
    for kind in ["Given", "cancelled"] {
        let r = record(
            &mut c,
            &[("record", kind), ("date", "2026-11-30"), ("amount", "70")],
        );
        assert_eq!(r.status, 422, "{kind}: {}", r.body);
        assert!(
            r.body.contains(&format!(
                "unknown record &#39;{kind}&#39;: use given, missed"
            )) || r
                .body
                .contains(&format!("unknown record '{kind}': use given, missed")),
            "{kind}: {}",
            r.body
        );
    }
    assert_eq!(site.cli(&["record", "list", "P4398-026"]), before);
}

/// `record history` shows a preparation step with its step and lot, and lists only a
/// patient's entries: never the feeds' key nor a user, though their ids sit where a
/// patient's does.
#[test]
fn record_history_shows_preparation_and_no_key_or_user() {
    let site = Site::new();
    let mut p1 = site.client("pharm1");
    let day = "/trials/NCT01724398/day?date=2026-11-23";
    let r = p1.post(
        day,
        "/trials/NCT01724398/doses/prepare",
        &[
            ("patient", "P4398-026"),
            ("component", "uc_msc"),
            ("occurrence", "1"),
            ("date", "2026-11-23"),
            ("from", "2026-11-23"),
            ("days", "1"),
            ("site", ""),
            ("lot", "UCM-2611-03"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let table = site.cli(&["record", "history", "P4398-026"]);
    assert!(
        table.contains("2026-11-23 prepared uc_msc #1") && table.contains("lot UCM-2611-03"),
        "{table}"
    );
    let csv = site.cli(&["record", "history", "P4398-026", "--format", "csv"]);
    assert!(csv.contains(",step,lot,"), "{csv}");
    assert!(csv.contains(",prepared,UCM-2611-03,"), "{csv}");
    // The feeds' key made (its page opened), then asked for as a patient.
    assert_eq!(
        site.client("admin").get("/trials/NCT01724398/feeds").status,
        200
    );
    for id in ["feed-key", "admin", "pharm1"] {
        let out = crate::common::dosesim()
            .args(["record", "history", id, "--db", &site.db])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{id}");
        assert!(
            out.stdout.is_empty(),
            "{id}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let msg = String::from_utf8_lossy(&out.stderr);
        assert!(
            msg.contains(&format!("no entry about patient {id}")),
            "{msg}"
        );
    }
}
