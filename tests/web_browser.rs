//! `dosesim serve` in a real browser: headless Chromium driven over WebDriver
//! (tests/common/webdriver.rs) on the test site (tests/common/web.rs), as a person uses it:
//! by the keyboard, reading what the page shows. Screenshots at 1280 and 390 px go to
//! target/web-screenshots/ to be looked at.
//!
//! One #[test] walks the whole flow in order, each stage a function taking the browser, so
//! that a new step is a new stage called from it.

use crate::common::web::{PASSWORD, Site, TRIAL};
use crate::common::webdriver::Browser;

/// The widths every page is looked at: a desktop and a phone.
const WIDTHS: [u32; 2] = [1280, 390];

fn screenshots(b: &Browser, name: &str) {
    for w in WIDTHS {
        b.screenshot(name, w);
    }
}

#[test]
fn a_user_signs_in_by_keyboard_sees_the_trials_and_signs_out_in_a_real_browser() {
    let site = Site::new();
    let b = Browser::open(&site.url);
    a_page_without_a_session_opens_the_sign_in_form(&b);
    a_wrong_password_shows_why(&b);
    signing_in_by_keyboard_shows_the_trials(&b);
    todays_sheet_opens_from_the_navigation(&b);
    signing_out_ends_the_session(&b);
    a_dose_is_prepared_checked_and_given(&b);
    the_patient_page_and_the_audit_trail_show_it(&b);
    the_cli_record_list_shows_it(&site);
}

/// The dose the flow records: on the sheet of Mon 2026-11-23 (before today, 2026-12-05).
const DAY: &str = "2026-11-23";
const PATIENT: &str = "P4398-026";
const DOSE_ROW: &str = "#dose-P4398_026-uc_msc-1";
const LOT: &str = "UCM-2611-03";

/// Signs in as `user` with the keyboard alone.
fn sign_in(b: &Browser, user: &str) {
    b.goto("/login");
    b.tab();
    b.keys(user);
    b.tab();
    b.keys(PASSWORD);
    b.enter();
    assert_eq!(b.path(), "/", "{user} signed in");
}

fn sign_out(b: &Browser) {
    b.click_button("Sign out");
    assert!(b.path().starts_with("/login"), "{}", b.path());
}

/// Today's sheet from the trial page's navigation: the date picker holds today.
fn todays_sheet_opens_from_the_navigation(b: &Browser) {
    b.goto(&format!("/trials/{TRIAL}/patients"));
    b.click_link("Day");
    assert!(
        b.path().starts_with(&format!("/trials/{TRIAL}/day")),
        "{}",
        b.path()
    );
    let today = chrono::Local::now().date_naive().to_string();
    let html = b.html();
    assert!(
        html.contains(&format!("value=\"{today}\"")),
        "the sheet opens on today, {today}"
    );
    assert!(b.text().contains("Preparation sheet"));
}

fn day_page() -> String {
    format!("/trials/{TRIAL}/day?date={DAY}")
}

/// pharm1 prepares (lot), pharm2 checks (lot again and password: the signature), pharm1
/// gives (time, amount prefilled): each by the form beside the dose on the sheet.
fn a_dose_is_prepared_checked_and_given(b: &Browser) {
    sign_in(b, "pharm1");
    b.goto(&day_page());
    let text = b.text();
    assert!(
        text.contains(PATIENT) && text.contains("To prepare"),
        "{text}"
    );
    screenshots(b, "day");
    b.fill_in(DOSE_ROW, "Lot or bag id", LOT);
    b.click_button_in(DOSE_ROW, "Record prepared");
    assert!(b.text().contains("recorded as prepared"), "{}", b.text());
    screenshots(b, "day-prepared");
    sign_out(b);

    sign_in(b, "pharm2");
    b.goto(&day_page());
    b.fill_in(DOSE_ROW, "Lot or bag id, read again from the bag", LOT);
    b.fill_in(
        DOSE_ROW,
        "Your password: electronic signature, meaning \"checked\"",
        PASSWORD,
    );
    b.click_button_in(DOSE_ROW, "Sign: checked");
    let text = b.text();
    assert!(text.contains("Checked by pharm2"), "{text}");
    sign_out(b);

    sign_in(b, "pharm1");
    b.goto(&day_page());
    b.fill_in(DOSE_ROW, "Time given (HH:MM, 24-hour)", "10:40");
    b.click_button_in(DOSE_ROW, "Record given");
    let text = b.text();
    assert!(text.contains("recorded as given"), "{text}");
    assert!(
        text.contains(&format!("given at 10:40, lot {LOT}")),
        "{text}"
    );
    screenshots(b, "day-given");
}

fn the_patient_page_and_the_audit_trail_show_it(b: &Browser) {
    b.goto(&format!("/trials/{TRIAL}/patients/{PATIENT}"));
    let text = b.text();
    assert!(
        text.contains(&format!("given at 10:40, lot {LOT}")),
        "{text}"
    );
    screenshots(b, "patient");
    b.goto(&format!("/trials/{TRIAL}/audit?patient={PATIENT}"));
    let text = b.text();
    for said in [
        "prepared",
        "checked",
        "pharm2",
        &format!("given at 10:40, lot {LOT}"),
    ] {
        assert!(text.contains(said), "the audit trail says {said:?}: {text}");
    }
    screenshots(b, "audit");
}

fn the_cli_record_list_shows_it(site: &Site) {
    let list = site.cli(&["record", "list", PATIENT]);
    let row = list
        .lines()
        .find(|l| l.contains(DAY) && l.contains("uc_msc"))
        .unwrap_or_else(|| panic!("no row given on {DAY}: {list}"));
    assert!(row.contains("given") && row.contains("pharm1"), "{row}");
    assert!(row.contains(&format!("given at 10:40, lot {LOT}")), "{row}");
}

fn a_page_without_a_session_opens_the_sign_in_form(b: &Browser) {
    b.goto("/");
    assert_eq!(b.path(), "/login?next=%2F");
    let text = b.text();
    assert!(text.contains("Sign in to dosesim"), "{text}");
    screenshots(b, "sign-in");
}

fn a_wrong_password_shows_why(b: &Browser) {
    b.fill("User name", "admin");
    b.fill("Password", "not-the-password");
    b.click_button("Sign in");
    let text = b.text();
    assert!(
        text.contains("the user name or password is not right"),
        "{text}"
    );
    assert!(b.path().starts_with("/login"), "{}", b.path());
    screenshots(b, "sign-in-refused");
}

/// The user name, Tab, the password, Enter: no mouse.
fn signing_in_by_keyboard_shows_the_trials(b: &Browser) {
    b.goto("/login");
    b.tab();
    assert_eq!(b.focused(), "User name", "Tab first reaches the user name");
    b.keys("admin");
    b.tab();
    assert_eq!(b.focused(), "Password");
    b.keys(PASSWORD);
    b.enter();
    assert_eq!(b.path(), "/");
    let text = b.text();
    assert!(text.contains("Trials"), "{text}");
    assert!(text.contains(TRIAL), "{text}");
    assert!(text.contains("Test admin"), "who is signed in: {text}");
    screenshots(b, "trials");
}

fn signing_out_ends_the_session(b: &Browser) {
    b.click_button("Sign out");
    assert!(b.path().starts_with("/login"), "{}", b.path());
    b.goto("/");
    assert!(
        b.path().starts_with("/login"),
        "signed out: {} shows the sign-in form",
        b.path()
    );
}
