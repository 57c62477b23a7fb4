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
    signing_out_ends_the_session(&b);
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
