//! `dosesim serve`'s sign-in, sessions and CSRF tokens, over HTTP on a random loopback port.

use crate::common::web::{Client, PASSWORD, Site};

#[test]
fn a_page_without_a_session_redirects_to_sign_in() {
    let site = Site::new();
    let mut c = site.anonymous();
    let r = c.get("/?x=1");
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), Some("/login?next=%2F%3Fx%3D1"));
}

#[test]
fn signing_in_sets_a_strict_httponly_cookie_and_signing_out_ends_the_session() {
    let site = Site::new();
    let mut c = Client::new(&site.url);
    let r = c.try_login("viewer", PASSWORD);
    assert_eq!(r.status, 303, "{}", r.body);
    let set = &r.headers["set-cookie"];
    let session = set
        .lines()
        .find(|l| l.starts_with("dosesim_session="))
        .unwrap();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    let home = c.get("/");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("NCT01724398"), "{}", home.body);
    let out = c.post("/", "/logout", &[]);
    assert_eq!(out.status, 303);
    assert_eq!(c.get("/").status, 303, "the session ended at sign-out");
}

#[test]
fn a_wrong_password_is_refused_and_repeated_failures_slow_down() {
    let site = Site::new();
    let mut c = Client::new(&site.url);
    let r = c.try_login("viewer", "wrong-password");
    assert_eq!(r.status, 401);
    assert!(r.body.contains("not right"), "{}", r.body);
    for _ in 0..3 {
        c.try_login("viewer", "wrong-password");
    }
    // After the free failures, even the right password must wait.
    let r = c.try_login("viewer", PASSWORD);
    assert_eq!(r.status, 401);
    assert!(r.body.contains("too many failed attempts"), "{}", r.body);
    // An unknown name is refused in the same words.
    let mut d = Client::new(&site.url);
    let r = d.try_login("nobody", "wrong-password");
    assert!(r.body.contains("too many failed attempts") || r.body.contains("not right"));
}

#[test]
fn a_form_without_the_right_csrf_token_is_refused() {
    let site = Site::new();
    let mut c = site.client("admin");
    let none = c.post_raw("/logout", &[]);
    assert_eq!(none.status, 403);
    let wrong = c.post_raw("/logout", &[("csrf", "0000")]);
    assert_eq!(wrong.status, 403);
    assert!(wrong.body.contains("security token"), "{}", wrong.body);
    assert_eq!(c.get("/").status, 200, "still signed in");
    // The sign-in form too: a token that is not the sign-in cookie's.
    let mut d = Client::new(&site.url);
    d.get("/login");
    let r = d.post_raw(
        "/login",
        &[
            ("csrf", "forged"),
            ("name", "admin"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(r.status, 403);
}

#[test]
fn a_form_posted_after_the_session_ended_says_nothing_was_recorded() {
    let site = Site::new();
    let mut c = site.client("admin");
    let token = c.get("/").csrf().unwrap();
    c.post_raw("/logout", &[("csrf", &token)]);
    let r = c.post_raw("/logout", &[("csrf", &token)]);
    assert_eq!(r.status, 401);
    assert!(r.body.contains("Nothing was recorded"), "{}", r.body);
    assert!(r.body.contains("href=\"/login\""), "{}", r.body);
}

#[test]
fn sign_in_goes_on_only_to_a_page_of_this_server() {
    let site = Site::new();
    for next in ["/\\evil.example", "//evil.example", "https://evil.example"] {
        let mut c = Client::new(&site.url);
        let page = c.get("/login");
        let token = page.csrf().unwrap();
        let r = c.post_raw(
            "/login",
            &[
                ("csrf", &token),
                ("name", "viewer"),
                ("password", PASSWORD),
                ("next", next),
            ],
        );
        assert_eq!(r.status, 303);
        assert_eq!(r.location(), Some("/"), "{next}");
    }
}

#[test]
fn user_add_refuses_a_short_password_and_a_taken_name() {
    let site = Site::new();
    let short = site.path().join("short.txt");
    std::fs::write(&short, "abc\n").unwrap();
    let out = crate::common::dosesim()
        .args([
            "user", "add", "newbie", "--role", "viewer", "--db", &site.db,
        ])
        .arg("--password-file")
        .arg(&short)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));
    let pw = site.path().join("pw.txt");
    let out = crate::common::dosesim()
        .args([
            "user", "add", "Pharm1", "--role", "viewer", "--db", &site.db,
        ])
        .arg("--password-file")
        .arg(&pw)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is a user Pharm1 already"));
    let list = site.cli(&["user", "list"]);
    let entry = list
        .lines()
        .find(|l| l.contains("| pharm1 "))
        .and_then(|l| l.trim_end_matches('|').rsplit('|').next())
        .unwrap()
        .trim()
        .to_string();
    let out = crate::common::dosesim()
        .args(["record", "void", &entry, "--reason", "x", "--db", &site.db])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a user entry is no record entry"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("is user pharm1's"));
    assert!(
        list.contains("pharm1") && list.contains("pharmacist"),
        "{list}"
    );
}

#[test]
fn a_user_disabled_while_signed_in_can_post_nothing_more_nor_sign_in() {
    let site = Site::new();
    let mut c = site.client("viewer");
    let token = c.get("/").csrf().unwrap();
    let out = site.cli(&[
        "user",
        "disable",
        "viewer",
        "--reason",
        "left the site",
        "--by",
        "admin",
    ]);
    assert!(
        out.contains("user viewer disabled (reason: left the site)"),
        "{out}"
    );
    let r = c.post_raw("/logout", &[("csrf", &token)]);
    assert_eq!(r.status, 403);
    assert!(r.body.contains("was changed or disabled"), "{}", r.body);
    assert_eq!(c.get("/").status, 303, "the session ended");
    let mut d = Client::new(&site.url);
    assert_eq!(d.try_login("viewer", PASSWORD).status, 401);
    // The change is in the chain, with its reason.
    let verify = site.cli(&["record", "verify"]);
    assert!(verify.contains("chain intact"), "{verify}");
}

#[test]
fn a_new_password_replaces_the_old_one() {
    let site = Site::new();
    let pw = site.path().join("new.txt");
    std::fs::write(&pw, "a-brand-new-password\n").unwrap();
    site.cli(&[
        "user",
        "change",
        "coord",
        "--password-file",
        pw.to_str().unwrap(),
        "--reason",
        "forgotten",
    ]);
    let mut c = Client::new(&site.url);
    assert_eq!(c.try_login("coord", PASSWORD).status, 401);
    let mut d = Client::new(&site.url);
    assert_eq!(d.try_login("coord", "a-brand-new-password").status, 303);
}
