//! Signing in and out, sessions, CSRF tokens, the slowing of repeated failed sign-ins, and
//! the electronic signature (a password entered again) that a check needs.
//!
//! A session is a random 256-bit token in a cookie (`HttpOnly`, `SameSite=Strict`, path
//! `/`), kept in the server's memory with its user, role and CSRF token; it ends after
//! [`crate::web::Config::idle_minutes`] without a request, after [`MAX_SESSION`] whatever
//! happens, at sign-out, and when the server stops. Every POST must carry the session's
//! CSRF token in its `csrf` field ([`csrf_guard`]); the sign-in form carries a token of its
//! own, kept in a cookie of its own until the user signs in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

use super::page::{self, Failure};
use super::{App, blocking};
use crate::db::users::{self, Role};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "dosesim_session";
/// The sign-in form's own CSRF cookie.
const LOGIN_COOKIE: &str = "dosesim_login";
/// The longest a session lasts, however busy.
pub const MAX_SESSION: Duration = Duration::from_secs(12 * 3600);
/// Failed sign-ins (or signatures) for one user name, or from one address, allowed before
/// each further try must wait: 2 s after the next failure, then 4, 8, ... up to 5 minutes.
pub const FREE_FAILURES: u32 = 3;
/// Failed sign-ins from one address (of any user names) before each further try from it
/// must wait: a ward's computers may reach the server through one proxy.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 30;
/// The longest wait after failed sign-ins.
const MAX_WAIT: Duration = Duration::from_secs(300);
/// The largest form a POST may carry.
const MAX_FORM: usize = 64 * 1024;

/// A signed-in user, as each handler gets it.
#[derive(Debug, Clone)]
pub struct Signed {
    pub name: String,
    pub role: Role,
    pub full_name: String,
    /// The user's entry in effect when they signed in: a form posted after the user was
    /// changed or disabled is refused ([`csrf_guard`]).
    pub entry: i64,
    /// The session's CSRF token, for the forms of the page ([`page::csrf_field`]).
    pub csrf: String,
}

impl Signed {
    /// Refuses (403) a user whose role may not record what `needed` records.
    pub fn require(&self, needed: Role) -> Result<(), Failure> {
        if self.role.may(needed) {
            Ok(())
        } else {
            let who = |r: Role| match r {
                Role::Admin => "an admin".to_string(),
                r => format!("a {}", r.as_str()),
            };
            let may = if needed == Role::Admin {
                "only an admin may do this".to_string()
            } else {
                format!("only {} (or an admin) may do this", who(needed))
            };
            Err(Failure::Forbidden(format!(
                "{} is signed in as {}: {may}",
                self.name,
                who(self.role)
            )))
        }
    }

    /// How the user is named on a page and in the record: "liwei (Li Wei)".
    pub fn label(&self) -> String {
        if self.full_name.is_empty() {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.full_name)
        }
    }
}

struct Session {
    user: Signed,
    began: Instant,
    seen: Instant,
}

/// Failures of one user name or one address.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// The sessions and failed sign-ins of a running server.
pub struct Sessions {
    idle: Duration,
    /// Cookies marked `Secure` ([`crate::web::Config::https`]).
    secure: bool,
    live: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, Failures>>,
}

impl Sessions {
    pub fn new(idle: Duration, secure: bool) -> Sessions {
        Sessions {
            idle,
            secure,
            live: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// A new session for `user`; its token.
    fn begin(&self, user: Signed) -> String {
        let token = random_token();
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|_, s| !expired(s, self.idle, now));
        live.insert(
            token.clone(),
            Session {
                user,
                began: now,
                seen: now,
            },
        );
        token
    }

    /// The user of a live session (and the session kept alive), or `None`.
    fn user(&self, token: &str) -> Option<Signed> {
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let s = live.get_mut(token)?;
        if expired(s, self.idle, now) {
            live.remove(token);
            return None;
        }
        s.seen = now;
        Some(s.user.clone())
    }

    fn end(&self, token: &str) {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token);
    }

    /// How long `keys` (a user name, an address) must still wait before another try. An
    /// address (`addr:...`, which a whole ward behind one proxy may share) is allowed
    /// [`FREE_FAILURES_PER_ADDRESS`] failures before it waits; a user name
    /// [`FREE_FAILURES`].
    fn wait(&self, keys: &[String]) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        keys.iter()
            .filter_map(|k| failures.get(k).map(|f| (k, f)))
            .filter_map(|(k, f)| {
                let free = if k.starts_with("addr:") {
                    FREE_FAILURES_PER_ADDRESS
                } else {
                    FREE_FAILURES
                };
                let wait = penalty(f.count, free)?;
                let until = f.last + wait;
                (until > now).then(|| until - now)
            })
            .max()
    }

    fn failed(&self, keys: &[String]) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        for k in keys {
            let f = failures.entry(k.clone()).or_insert(Failures {
                count: 0,
                last: now,
            });
            f.count += 1;
            f.last = now;
        }
    }

    fn succeeded(&self, keys: &[String]) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            failures.remove(k);
        }
    }
}

fn expired(s: &Session, idle: Duration, now: Instant) -> bool {
    now.duration_since(s.seen) > idle || now.duration_since(s.began) > MAX_SESSION
}

/// The wait after `count` failures: none for the first `free`, then doubling.
fn penalty(count: u32, free: u32) -> Option<Duration> {
    let over = count.checked_sub(free)?;
    if over == 0 {
        return None;
    }
    let secs = 1u64 << over.min(16);
    Some(Duration::from_secs(secs).min(MAX_WAIT))
}

/// 32 random bytes as hex.
pub fn random_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the operating system gives random numbers");
    crate::db::entry::hex(&b)
}

/// A cookie's value from the request's headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, path / (and Secure behind HTTPS);
/// `max_age` 0 removes it.
fn set_cookie(app: &App, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
    let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    let secure = if app.sessions.secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path=/{age}{secure}"
    ))
    .expect("a cookie of hex digits")
}

impl FromRequestParts<App> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        if let Some(user) =
            cookie(&parts.headers, SESSION_COOKIE).and_then(|t| app.sessions.user(&t))
        {
            return Ok(user);
        }
        let next = parts
            .uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
        let to = format!("/login?next={}", page::url_encode(&next));
        Err(Redirect::to(&to).into_response())
    }
}

/// Refuses (403) a POST whose `csrf` field is not the session's token (or, for the sign-in
/// form, the sign-in cookie's), before any handler sees it.
pub async fn csrf_guard(State(app): State<App>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
        Ok(b) => b,
        Err(_) => {
            return Failure::TooLarge(format!("a form is at most {} KiB", MAX_FORM / 1024))
                .into_response();
        }
    };
    let login = parts.uri.path() == "/login";
    let session = cookie(&parts.headers, SESSION_COOKIE);
    let user = session.as_deref().and_then(|t| app.sessions.user(t));
    let expected = if login {
        cookie(&parts.headers, LOGIN_COOKIE)
    } else {
        user.as_ref().map(|u| u.csrf.clone())
    };
    if !login && user.is_none() {
        return session_ended(&app);
    }
    let given = form_value(&bytes, "csrf");
    let valid = matches!((&expected, &given), (Some(e), Some(g)) if constant_time_eq(e.as_bytes(), g.as_bytes()));
    if !valid {
        return Failure::Forbidden(
            "this form has no valid security token (it is out of date, was opened in a session that has ended, or did not come from dosesim): reload the page and try again".to_string(),
        )
        .into_response();
    }
    if let (false, Some(u), Some(t)) = (login, &user, &session)
        && let Err(f) = still_in_effect(&app, u, t).await
    {
        return f.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A form posted after its session ended (idle too long, signed out, or the server
/// restarted): nothing recorded, and the way back.
fn session_ended(app: &App) -> Response {
    let body = html! {
        main.narrow {
            h1 { "Your session has ended" }
            p.error role="alert" {
                "Nothing was recorded: the session ends after "
                (app.config.idle_minutes) " minutes without use, at sign-out, and when the server restarts."
            }
            p { a href="/login" { "Sign in again" } ", open the page again and enter what you were recording." }
        }
    };
    (StatusCode::UNAUTHORIZED, page::bare("Session ended", body)).into_response()
}

/// Refuses a form from a user changed (a new role or password) or disabled since they
/// signed in, and ends their session.
async fn still_in_effect(app: &App, user: &Signed, token: &str) -> Result<(), Failure> {
    let (app2, name) = (app.clone(), user.name.clone());
    let now = blocking(move || -> anyhow::Result<Option<users::User>> {
        users::find(&mut *app2.db()?, &name)
    })
    .await?;
    if now.is_some_and(|u| u.entry == user.entry) {
        return Ok(());
    }
    app.sessions.end(token);
    Err(Failure::Forbidden(format!(
        "the user {} was changed or disabled after signing in: nothing was recorded; sign in again",
        user.name
    )))
}

/// The first value of a urlencoded form's field.
fn form_value(bytes: &Bytes, name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks `password` for `user` (a sign-in, or a signature), slowed after failures: the
/// user, or a message for the page.
pub async fn check_password(
    app: &App,
    name: &str,
    password: &str,
    from: Option<SocketAddr>,
) -> Result<users::User, String> {
    let mut keys = vec![format!("user:{}", name.to_ascii_lowercase())];
    if let Some(a) = from {
        keys.push(format!("addr:{}", a.ip()));
    }
    if let Some(wait) = app.sessions.wait(&keys) {
        return Err(format!(
            "too many failed attempts: wait {} seconds, then try again",
            wait.as_secs().max(1)
        ));
    }
    let (app2, name2, password2) = (app.clone(), name.to_string(), password.to_string());
    let found = blocking(move || -> anyhow::Result<Option<users::User>> {
        let mut db = app2.db()?;
        let user = users::find(&mut db, &name2)?;
        // Hash even for an unknown name, so that the time taken does not tell names apart.
        let ok = match &user {
            Some(u) => u.password_is(&password2),
            None => {
                users::verify_password(UNKNOWN_USER_HASH, &password2);
                false
            }
        };
        Ok(user.filter(|_| ok))
    })
    .await
    .map_err(|e| format!("the database cannot be read: {e:#}"))?;
    match found {
        Some(u) => {
            app.sessions.succeeded(&keys);
            Ok(u)
        }
        None => {
            app.sessions.failed(&keys);
            Err("the user name or password is not right".to_string())
        }
    }
}

/// Whether `next` is a path of this server (`/...`), which a sign-in may send the user on
/// to: not `//host` nor `/\host` (which browsers read as another site), nor anything with a
/// control character.
fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
}

/// An argon2id hash no password matches, checked for an unknown user name.
const UNKNOWN_USER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$5Ckl0hH1sgiqUe3O3WHfW6mGFS+mC3Zl3cn1QHIc0Ac";

pub fn routes() -> Router<App> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn login_page(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let token = cookie(&headers, LOGIN_COOKIE).unwrap_or_else(random_token);
    login_form(&app, &token, &q.next, "", None, StatusCode::OK)
}

fn login_form(
    app: &App,
    token: &str,
    next: &str,
    name: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let body = html! {
        main.narrow {
            h1 { "Sign in to dosesim" }
            @if let Some(e) = error { p.error role="alert" id="login-error" { (e) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="next" value=(next);
                (page::field_with("User name", "name", "text", name, &[], page::Opts { required: true, autocomplete: Some("username"), ..Default::default() }))
                (page::field_with("Password", "password", "password", "", &[], page::Opts { required: true, autocomplete: Some("current-password"), ..Default::default() }))
                button type="submit" { "Sign in" }
            }
        }
    };
    let mut r = (status, page::bare("Sign in", body)).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(app, LOGIN_COOKIE, token, Some(3600)),
    );
    r
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
    csrf: String,
}

async fn login(
    State(app): State<App>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    axum::Form(f): axum::Form<LoginForm>,
) -> Response {
    let name = f.name.trim();
    match check_password(&app, name, &f.password, Some(from)).await {
        Ok(u) => {
            let token = app.sessions.begin(Signed {
                name: u.name.clone(),
                role: u.role,
                full_name: u.full_name.clone(),
                entry: u.entry,
                csrf: random_token(),
            });
            let to = if is_local_path(&f.next) {
                f.next.as_str()
            } else {
                "/"
            };
            let mut r = Redirect::to(to).into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&app, SESSION_COOKIE, &token, None),
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(&app, LOGIN_COOKIE, "", Some(0)),
            );
            r
        }
        Err(msg) => login_form(
            &app,
            &f.csrf,
            &f.next,
            name,
            Some(&msg),
            StatusCode::UNAUTHORIZED,
        ),
    }
}

async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(t) = cookie(&headers, SESSION_COOKIE) {
        app.sessions.end(&t);
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&app, SESSION_COOKIE, "", Some(0)),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_after_the_free_failures_up_to_five_minutes() {
        let f = FREE_FAILURES;
        assert_eq!(penalty(0, f), None);
        assert_eq!(penalty(f, f), None);
        assert_eq!(penalty(f + 1, f), Some(Duration::from_secs(2)));
        assert_eq!(penalty(f + 2, f), Some(Duration::from_secs(4)));
        assert_eq!(penalty(f + 30, f), Some(MAX_WAIT));
    }

    #[test]
    fn a_failed_name_waits_and_a_success_clears_it() {
        let s = Sessions::new(Duration::from_secs(60), false);
        let keys = vec!["user:liwei".to_string()];
        for _ in 0..FREE_FAILURES {
            s.failed(&keys);
        }
        assert_eq!(s.wait(&keys), None);
        s.failed(&keys);
        assert!(s.wait(&keys).is_some());
        s.succeeded(&keys);
        assert_eq!(s.wait(&keys), None);
    }

    #[test]
    fn one_address_may_fail_for_many_names_before_it_waits() {
        let s = Sessions::new(Duration::from_secs(60), false);
        let addr = "addr:10.0.0.9".to_string();
        for k in 0..FREE_FAILURES_PER_ADDRESS {
            s.failed(&[format!("user:typo{k}"), addr.clone()]);
        }
        assert_eq!(s.wait(&["user:pharm2".to_string(), addr.clone()]), None);
        s.failed(std::slice::from_ref(&addr));
        assert!(s.wait(&[addr]).is_some());
    }

    #[test]
    fn only_a_path_of_this_server_is_followed_after_sign_in() {
        assert!(is_local_path("/trials/NCT01724398/day?date=2026-11-23"));
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "",
            "/\tx",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_idle_session_ends() {
        let s = Sessions::new(Duration::from_millis(0), false);
        let t = s.begin(Signed {
            name: "a".into(),
            role: Role::Viewer,
            full_name: String::new(),
            entry: 2,
            csrf: "x".into(),
        });
        std::thread::sleep(Duration::from_millis(5));
        assert!(s.user(&t).is_none());
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; dosesim_session=abc"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
    }

    #[test]
    fn cookies_are_marked_secure_behind_https_only() {
        let app = |https| {
            App::new(crate::web::Config {
                db: crate::db::Location::Sqlite("x.db".into()),
                scenarios: "scenarios".into(),
                listen: "127.0.0.1:0".parse().unwrap(),
                idle_minutes: 30,
                https,
            })
        };
        let plain = set_cookie(&app(false), SESSION_COOKIE, "ab", None);
        assert_eq!(
            plain,
            "dosesim_session=ab; HttpOnly; SameSite=Strict; Path=/"
        );
        let secure = set_cookie(&app(true), SESSION_COOKIE, "ab", Some(0));
        assert_eq!(
            secure,
            "dosesim_session=ab; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure"
        );
    }

    #[test]
    fn the_unknown_user_hash_is_a_hash() {
        assert!(argon2::password_hash::PasswordHash::new(UNKNOWN_USER_HASH).is_ok());
    }
}
