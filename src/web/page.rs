//! The pages' frame: the layout (maud), its style sheet (screen, a 390 px phone, print),
//! labelled form fields with their errors beside them, and the error pages.

use std::collections::BTreeMap;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::auth::Signed;
use crate::error::{InputError, Problem};

/// What a request could not do, as a page with its status.
#[derive(Debug)]
pub enum Failure {
    /// 403: the user's role may not, or the form's security token is wrong.
    Forbidden(String),
    /// 404: no such trial, patient or entry.
    NotFound(String),
    /// 413: a form too large.
    TooLarge(String),
    /// 500: the database or a file failed; the details go to the server's log.
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Internal(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Failure::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            Failure::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            Failure::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, "Too large", m),
            Failure::Internal(e) => {
                eprintln!("error: {e:#}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    format!("{e:#}"),
                )
            }
        };
        let body = html! {
            main.narrow {
                h1 { (title) }
                p.error role="alert" { (message) }
                p { a href="/" { "Back to the trials" } }
            }
        };
        (status, bare(title, body)).into_response()
    }
}

/// The 404 page for an unknown address.
pub async fn not_found() -> Response {
    Failure::NotFound("there is no page at this address".to_string()).into_response()
}

/// Headers every response carries: no framing, no sniffing, no caching of the record, and
/// a content security policy that allows nothing from elsewhere and no script.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// A page of the application for a signed-in user: the navigation (with the trial's own
/// pages when `trial` is given), who is signed in, sign-out, then `body`.
pub fn page(title: &str, user: &Signed, trial: Option<&str>, body: Markup) -> Html<String> {
    let nav = html! {
        header.top {
            nav aria-label="Main" {
                a href="/" { "Trials" }
                @if let Some(t) = trial {
                    a href={ "/trials/" (t) "/day" } { "Day" }
                    a href={ "/trials/" (t) "/patients" } { "Patients" }
                    a href={ "/trials/" (t) "/audit" } { "Audit trail" }
                    a href={ "/trials/" (t) "/report" } { "Report" }
                    a href={ "/trials/" (t) "/forecast" } { "Forecast" }
                }
            }
            div.who {
                span { (user.label()) " · " (user.role.as_str()) }
                form method="post" action="/logout" {
                    (csrf_field(user))
                    button.link type="submit" { "Sign out" }
                }
            }
        }
    };
    Html(document(
        title,
        html! {
            (nav)
            main { (body) }
        },
    ))
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Html<String> {
    Html(document(title, body))
}

fn document(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · dosesim" }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
    .into_string()
}

/// The hidden field that carries the session's CSRF token: in every form.
pub fn csrf_field(user: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(user.csrf); }
}

/// Problems of a form, by the form field each belongs to ("" for the form as a whole).
#[derive(Debug, Default, Clone)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// `e`'s problems, each under the form field its flag names (`--amount` -> `amount`,
    /// `--weight-kg` -> `weight_kg`); problems of no flag under "".
    pub fn from_input(e: &InputError) -> FieldErrors {
        let mut out = FieldErrors::default();
        for p in &e.problems {
            out.add_problem(p);
        }
        out
    }

    pub fn add_problem(&mut self, p: &Problem) {
        let field = match (&p.file, &p.field) {
            (None, Some(f)) => f.trim_start_matches('-').replace('-', "_"),
            _ => String::new(),
        };
        let text = if p.file.is_some() {
            p.to_string()
        } else {
            p.message.clone()
        };
        self.add(&field, text);
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    pub fn of(&self, field: &str) -> &[String] {
        self.0.get(field).map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems under no field (and those of fields the form does not show), for the
    /// top of the form.
    pub fn general(&self, shown: &[&str]) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k.is_empty() || !shown.contains(&k.as_str()))
            .flat_map(|(_, v)| v.iter().map(String::as_str))
            .collect()
    }
}

/// The problems of a whole form, above it.
pub fn form_errors(errors: &FieldErrors, shown: &[&str]) -> Markup {
    let general = errors.general(shown);
    html! {
        @if !general.is_empty() {
            div.error role="alert" {
                p { "Nothing was recorded:" }
                ul { @for m in general { li { (m) } } }
            }
        }
    }
}

/// What else an input may say: required, its autocomplete, a hint under its label, and
/// for numbers their step.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opts<'a> {
    pub required: bool,
    pub autocomplete: Option<&'a str>,
    pub hint: Option<&'a str>,
    pub step: Option<&'a str>,
}

/// A labelled input with its errors beside it (`aria-invalid`, `aria-describedby`).
pub fn field(label: &str, name: &str, kind: &str, value: &str, errors: &[String]) -> Markup {
    field_with(label, name, kind, value, errors, Opts::default())
}

/// [`field`] with [`Opts`].
pub fn field_with(
    label: &str,
    name: &str,
    kind: &str,
    value: &str,
    errors: &[String],
    o: Opts,
) -> Markup {
    let id = format!("f-{name}");
    let err_id = format!("e-{name}");
    let hint_id = format!("h-{name}");
    let described: Vec<&str> = [
        o.hint.map(|_| hint_id.as_str()),
        (!errors.is_empty()).then_some(err_id.as_str()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let described = (!described.is_empty()).then(|| described.join(" "));
    html! {
        div.field {
            label for=(id) { (label) }
            @if let Some(h) = o.hint { span.muted id=(hint_id) { (h) } }
            input id=(id) name=(name) type=(kind) value=(value) required[o.required]
                autocomplete=[o.autocomplete] step=[o.step]
                aria-invalid=[(!errors.is_empty()).then_some("true")]
                aria-describedby=[described];
            @if !errors.is_empty() {
                span.field-error id=(err_id) {
                    @for (k, m) in errors.iter().enumerate() {
                        @if k > 0 { br; }
                        (m)
                    }
                }
            }
        }
    }
}

/// A labelled select of `(value, shown)` options, `chosen` selected, with its errors.
pub fn select(
    label: &str,
    name: &str,
    options: &[(String, String)],
    chosen: &str,
    errors: &[String],
) -> Markup {
    let id = format!("f-{name}");
    let err_id = format!("e-{name}");
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(name)
                aria-invalid=[(!errors.is_empty()).then_some("true")]
                aria-describedby=[(!errors.is_empty()).then_some(&err_id)] {
                @for (v, shown) in options {
                    option value=(v) selected[v == chosen] { (shown) }
                }
            }
            @if !errors.is_empty() {
                span.field-error id=(err_id) { @for m in errors { (m) " " } }
            }
        }
    }
}

/// A note that something was recorded, shown at the top of the page after a redirect.
pub fn notice(text: &str) -> Markup {
    html! { p.notice role="status" { (text) } }
}

/// `s` percent-encoded for a query string.
pub fn url_encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

/// The style sheet: readable at 1280 px and at a 390 px phone width; print hides the
/// navigation and the forms.
pub const STYLE: &str = r#"
:root { --ink: #1d2433; --muted: #5b6475; --line: #d5d9e0; --accent: #1f5fa8; --bad: #a4161a; --good: #1b6e3a; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--ink); background: #fff; }
header.top { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; justify-content: space-between; padding: .6rem 1rem; border-bottom: 1px solid var(--line); background: #f5f7fa; }
header.top nav { display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
header.top nav a { color: var(--accent); font-weight: 600; text-decoration: none; padding: .25rem 0; }
header.top nav a:hover, header.top nav a:focus { text-decoration: underline; }
.who { display: flex; gap: .75rem; align-items: center; color: var(--muted); font-size: .9rem; }
.who form { margin: 0; }
main { padding: 1rem; max-width: 1240px; margin: 0 auto; }
main.narrow { max-width: 28rem; margin: 3rem auto; }
h1 { font-size: 1.5rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid var(--line); padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f5f7fa; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.table-wrap { overflow-x: auto; }
.field { display: flex; flex-direction: column; gap: .2rem; margin: 0 0 .75rem; }
.field label { font-weight: 600; }
input, select, textarea, button { font: inherit; }
input, select, textarea { padding: .45rem .55rem; border: 1px solid #8a93a3; border-radius: 4px; min-height: 2.5rem; max-width: 100%; }
input[aria-invalid="true"], select[aria-invalid="true"] { border: 2px solid var(--bad); }
.field-error { color: var(--bad); font-size: .95rem; }
button { padding: .5rem 1rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 4px; cursor: pointer; min-height: 2.5rem; }
button.secondary { background: #fff; color: var(--accent); }
button.link { background: none; border: none; color: var(--accent); padding: 0; min-height: 0; text-decoration: underline; }
:focus-visible { outline: 3px solid #f0a202; outline-offset: 2px; }
.error { color: var(--bad); border-left: 4px solid var(--bad); padding: .4rem .75rem; background: #fdf0f0; }
.notice { color: var(--good); border-left: 4px solid var(--good); padding: .4rem .75rem; background: #eef8f1; }
.muted { color: var(--muted); }
.assumed { color: #8a5a00; }
.inline-form { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: flex-end; }
.inline-form .field { margin: 0; }
fieldset { border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; margin: .75rem 0; }
legend { font-weight: 600; padding: 0 .25rem; }
@media (max-width: 600px) {
  body { font-size: 15px; }
  main { padding: .6rem; }
  table.stack thead { display: none; }
  table.stack tr { display: block; border-bottom: 2px solid var(--line); padding: .4rem 0; }
  table.stack td { display: block; border: none; padding: .15rem 0; }
  table.stack td[data-label]::before { content: attr(data-label) ": "; font-weight: 600; }
  .inline-form { flex-direction: column; align-items: stretch; }
  button { width: 100%; }
  button.link { width: auto; }
}
@media print {
  header.top, form, .no-print { display: none !important; }
  main { max-width: none; padding: 0; }
  body { font-size: 11pt; }
}
main svg { max-width: 100%; height: auto; }
@media (max-width: 600px) {
  table.stack td:empty { display: none; }
  table.stack td.num { text-align: left; }
  .field { min-width: 0; }
  .field input, .field select { width: 100%; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_problem_goes_beside_its_field() {
        let e = InputError::new(vec![
            Problem::flag("--weight-kg", "too light"),
            Problem::flag("--date", "after today"),
        ]);
        let f = FieldErrors::from_input(&e);
        assert_eq!(f.of("weight_kg"), ["too light".to_string()]);
        assert_eq!(f.of("date"), ["after today".to_string()]);
        assert!(f.general(&["weight_kg", "date"]).is_empty());
        assert_eq!(f.general(&["date"]), vec!["too light"]);
    }

    #[test]
    fn a_query_value_is_encoded() {
        assert_eq!(
            url_encode("/trials/X/day?date=2026-11-23&site=A B"),
            "%2Ftrials%2FX%2Fday%3Fdate%3D2026-11-23%26site%3DA+B"
        );
    }
}
