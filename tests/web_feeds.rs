//! `dosesim serve`'s calendar feeds, trial report and forecast pages, over HTTP on a
//! random loopback port, against the files the commands write from the same database.

use crate::common::web::{Client, Reply, Site, TRIAL};

/// The feed addresses of the feeds page, in order: (kind, id, path from the host).
fn feed_paths(page: &Reply) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for part in page.body.split("href=\"").skip(1) {
        let href = part.split('"').next().unwrap();
        let Some(k) = href.find("/feeds/") else {
            continue;
        };
        let path = &href[k..];
        let mut bits = path.split('/').skip(3);
        let kind = bits.next().unwrap().to_string();
        let id = bits.next().unwrap().trim_end_matches(".ics").to_string();
        out.push((kind, id, path.to_string()));
    }
    out
}

/// The feed path of `kind` `id` on the feeds page `c` reads.
fn feed_of(c: &mut Client, kind: &str, id: &str) -> String {
    let page = c.get(&format!("/trials/{TRIAL}/feeds"));
    assert_eq!(page.status, 200, "{}", page.body);
    feed_paths(&page)
        .into_iter()
        .find(|(k, i, _)| k == kind && i == id)
        .unwrap_or_else(|| panic!("no {kind} feed of {id} on the page"))
        .2
}

/// `dosesim cohort TRIAL --db DB --out DIR`: the trial folder.
fn cohort_folder(site: &Site, name: &str) -> std::path::PathBuf {
    let out = site.path().join(name);
    site.cli(&["cohort", TRIAL, "--quiet", "--out", out.to_str().unwrap()]);
    out.join(TRIAL)
}

/// The SEQUENCE and SUMMARY of the event with `uid` in an .ics.
fn event(ics: &str, uid: &str) -> (String, String) {
    let unfolded = ics.replace("\r\n ", "");
    let ev = unfolded
        .split("BEGIN:VEVENT")
        .find(|e| e.contains(&format!("UID:{uid}\r\n")))
        .unwrap_or_else(|| panic!("no event {uid}"));
    let field = |name: &str| {
        ev.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .to_string()
    };
    (field("SEQUENCE:"), field("SUMMARY:"))
}

#[test]
fn a_feed_is_the_calendar_file_of_the_trial_folder_and_follows_the_record() {
    let site = Site::new();
    let mut viewer = site.client("viewer");
    let site_feed = feed_of(&mut viewer, "site", "GZ-SYSU3");
    let patient_feed = feed_of(&mut viewer, "patient", "P4398-026");
    // A calendar app has no session.
    let mut app = site.anonymous();
    let s = app.get(&site_feed);
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.headers["content-type"], "text/calendar; charset=utf-8");
    let folder = cohort_folder(&site, "before");
    let file = |p: &str| std::fs::read_to_string(folder.join(p)).unwrap();
    assert_eq!(s.body, file("sites/GZ-SYSU3.ics"));
    let p = app.get(&patient_feed);
    assert_eq!(p.body, file("patients/P4398-026.ics"));
    let uid = "NCT01724398-P4398-026-uc_msc-1@dosesim";
    let (sequence, summary) = event(&p.body, uid);
    assert_eq!(sequence, "0");
    assert!(!summary.contains("GIVEN"), "{summary}");

    site.cli(&[
        "record",
        "add",
        TRIAL,
        "--patient",
        "P4398-026",
        "--date",
        "2026-11-23",
        "--record",
        "given",
        "--component",
        "uc_msc",
        "--occurrence",
        "1",
        "--by",
        "pharm1",
    ]);
    let p = app.get(&patient_feed);
    let (sequence, summary) = event(&p.body, uid);
    assert_eq!(sequence, "2", "one more record entry of the patient's: +2");
    assert!(summary.contains("GIVEN UC-MSC infusion 1/4"), "{summary}");
    let s = app.get(&site_feed);
    assert_eq!(event(&s.body, uid), (sequence, summary));
    let after = cohort_folder(&site, "after");
    let file = |p: &str| std::fs::read_to_string(after.join(p)).unwrap();
    assert_eq!(p.body, file("patients/P4398-026.ics"));
    assert_eq!(s.body, file("sites/GZ-SYSU3.ics"));
    let parsed: icalendar::Calendar = p.body.parse().unwrap();
    assert!(!parsed.components.is_empty());
}

#[test]
fn a_wrong_token_is_not_found_and_the_feeds_page_needs_a_session() {
    let site = Site::new();
    let mut c = site.client("coord");
    let good = feed_of(&mut c, "patient", "P4398-001");
    let mut app = site.anonymous();
    assert_eq!(app.get(&good).status, 200);
    let token = good.split('/').nth(2).unwrap();
    let flipped = format!(
        "{}{}",
        if token.starts_with('0') { '1' } else { '0' },
        &token[1..]
    );
    let wrong = [
        good.replace(token, &flipped),
        good.replace(token, &token[..62]),
        good.replace(token, "not-hex"),
        good.replace("P4398-001", "P4398-002"),
        good.replace("/patient/", "/site/"),
        good.replace(".ics", ".csv"),
    ];
    for w in &wrong {
        let r = app.get(w);
        assert_eq!(r.status, 404, "{w}");
        assert!(r.body.contains("no such calendar feed"), "{}", r.body);
    }
    let r = app.get(&format!("/trials/{TRIAL}/feeds"));
    assert_eq!(r.status, 303);
    assert!(r.location().unwrap().starts_with("/login"));
    // The same key for every request and every server on the database.
    assert_eq!(
        feed_of(&mut site.client("admin"), "patient", "P4398-001"),
        good
    );
}

#[test]
fn a_new_key_stops_every_feed_address_and_only_an_admin_makes_one() {
    let site = Site::new();
    let mut admin = site.client("admin");
    let old = feed_of(&mut admin, "site", "GZ-SYSU3");
    let page = format!("/trials/{TRIAL}/feeds");
    let post = format!("/trials/{TRIAL}/feeds/new-key");
    for user in ["viewer", "coord", "pharm1"] {
        let mut c = site.client(user);
        let r = c.post(&page, &post, &[("reason", "a URL was shared")]);
        assert_eq!(r.status, 403, "{user}");
    }
    let r = admin.post(&page, &post, &[("reason", "  ")]);
    assert_eq!(r.status, 422);
    assert!(
        r.body.contains("give the reason for a new key"),
        "{}",
        r.status
    );
    assert!(
        r.body.contains("<label for=\"f-reason\""),
        "the field is labelled"
    );
    assert_eq!(site.anonymous().get(&old).status, 200, "nothing changed");
    let r = admin.post(&page, &post, &[("reason", "a URL was shared by mistake")]);
    assert_eq!(r.status, 303);
    let shown = admin.follow(&r);
    assert!(shown.body.contains("A new key was made"), "{}", shown.body);
    let new = feed_of(&mut admin, "site", "GZ-SYSU3");
    assert_ne!(new, old);
    assert_eq!(site.anonymous().get(&old).status, 404);
    assert_eq!(site.anonymous().get(&new).status, 200);
    // The keys are entries of the chain, which stays whole.
    let verified = site.cli(&["record", "verify"]);
    assert!(verified.starts_with("chain intact"), "{verified}");
}

#[test]
fn the_report_and_forecast_pages_are_the_files_the_commands_write() {
    let site = Site::new();
    let mut viewer = site.client("viewer");
    let report = viewer.get(&format!("/trials/{TRIAL}/report"));
    assert_eq!(report.status, 200, "{}", report.body);
    let folder = cohort_folder(&site, "out");
    let file = std::fs::read_to_string(folder.join("report.html")).unwrap();
    for part in [
        "<title>",
        "Umbilical Cord Mesenchymal Stem Cells",
        "<h2>Regimens",
        "<h2>Administration record",
        "<h2>Audit trail",
        "<h2>Patients (120)",
    ] {
        assert!(report.body.contains(part), "{part}");
    }
    assert_eq!(
        report.body, file,
        "the page is the trial folder's report.html"
    );

    let r = viewer.get(&format!("/trials/{TRIAL}/forecast"));
    assert_eq!(r.status, 303);
    let first = viewer.follow(&r);
    assert_eq!(first.status, 200, "{}", first.body);
    let again = viewer.get(&format!("/trials/{TRIAL}/forecast/"));
    assert_eq!(first.body, again.body);
    let out = site.path().join("fc");
    site.cli(&["forecast", TRIAL, "--quiet", "--out", out.to_str().unwrap()]);
    let dir = out.join(TRIAL).join("forecast");
    let html = std::fs::read_to_string(dir.join("forecast.html")).unwrap();
    assert_eq!(
        first.body, html,
        "the page is the forecast folder's forecast.html"
    );
    for csv in ["weekly.csv", "monthly.csv", "summary.csv", "lots.csv"] {
        assert!(first.body.contains(&format!("href=\"{csv}\"")), "{csv}");
        let r = viewer.get(&format!("/trials/{TRIAL}/forecast/{csv}"));
        assert_eq!(r.status, 200, "{csv}");
        assert_eq!(
            r.body,
            std::fs::read_to_string(dir.join(csv)).unwrap(),
            "{csv}"
        );
    }
    assert_eq!(
        viewer
            .get(&format!("/trials/{TRIAL}/forecast/x.csv"))
            .status,
        404
    );
    let mut anon = site.anonymous();
    for p in ["report", "forecast/", "forecast/weekly.csv"] {
        assert_eq!(anon.get(&format!("/trials/{TRIAL}/{p}")).status, 303, "{p}");
    }
}
