//! Calendar feeds: each site's and each patient's .ics at an address with an unguessable
//! token, so that a calendar app subscribes once and sees each change (the SEQUENCE of an
//! event rises with the patient's record entries). A calendar app cannot sign in: the
//! token is the key ([`crate::db::feed_key`]), and the feed is the very file a new trial
//! folder holds (`sites/<SITE>.ics`, `patients/<id>.ics`) made from the database now.
//! The page `/trials/{trial}/feeds` lists the addresses for a signed-in user; an admin
//! may make a new key there, which stops every address given before.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

use super::auth::Signed;
use super::page::{self, Failure, FieldErrors};
use super::{App, blocking, trials};
use crate::db::feed_key::{self, FeedKey, Kind};
use crate::db::users::Role;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/feeds/{token}/site/{file}", get(site_feed))
        .route("/feeds/{token}/patient/{file}", get(patient_feed))
        .route("/trials/{trial}/feeds", get(list))
        .route("/trials/{trial}/feeds/new-key", post(new_key))
}

/// GET /feeds/{token}/site/{SITE}.ics (no session).
async fn site_feed(
    State(app): State<App>,
    Path((token, file)): Path<(String, String)>,
) -> Response {
    feed(app, token, Kind::Site, file).await
}

/// GET /feeds/{token}/patient/{ID}.ics (no session).
async fn patient_feed(
    State(app): State<App>,
    Path((token, file)): Path<(String, String)>,
) -> Response {
    feed(app, token, Kind::Patient, file).await
}

/// The feed a token opens, or 404 (whatever was wrong: the token, the trial, the id).
async fn feed(app: App, token: String, kind: Kind, file: String) -> Response {
    let made = blocking(move || -> Result<Option<String>, Failure> {
        let Some(id) = file.strip_suffix(".ics") else {
            return Ok(None);
        };
        let Some(key) = feed_key::existing(&mut *app.db()?)? else {
            return Ok(None);
        };
        match trial_of(&app, &key, &token, kind, id)? {
            Some(trial) => ics_of(&app, &trial, kind, id),
            None => Ok(None),
        }
    })
    .await;
    match made {
        Ok(Some(ics)) => (
            [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
            ics,
        )
            .into_response(),
        Ok(None) => Failure::NotFound("there is no such calendar feed".into()).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The trial whose feed of `kind` `id` the token is, if any (every trial of the server's
/// scenarios tried, each in constant time).
fn trial_of(
    app: &App,
    key: &FeedKey,
    token: &str,
    kind: Kind,
    id: &str,
) -> Result<Option<String>, Failure> {
    for f in trials::scenario_files(app)? {
        let trial =
            crate::scenario::load(&f).map_err(|e| Failure::Internal(anyhow::anyhow!("{e}")))?;
        if key.matches(token, &trial.id, kind, id) {
            return Ok(Some(trial.id));
        }
    }
    Ok(None)
}

/// The .ics of the trial's site or patient `id`, as a new trial folder has it; `None`
/// when the roster has no such site or patient, or they have no appointment.
fn ics_of(app: &App, trial: &str, kind: Kind, id: &str) -> Result<Option<String>, Failure> {
    let Some(inputs) = trials::load(app, trial)? else {
        return Ok(None);
    };
    let cohort = crate::cohort::Cohort::of(&inputs)
        .map_err(|e| Failure::Internal(anyhow::anyhow!("{e}")))?;
    let roster = cohort.roster;
    Ok(match kind {
        Kind::Site => roster
            .sites
            .iter()
            .position(|s| &**s == id)
            .and_then(|k| crate::bundle::site_ics(&cohort, k as u16)),
        Kind::Patient => roster
            .entries
            .iter()
            .position(|e| &*e.id == id)
            .and_then(|i| crate::bundle::patient_ics(&cohort, i as u32)),
    })
}

/// The feeds of a trial: each site's and each patient's address.
struct Feeds {
    trial: String,
    key: FeedKey,
    sites: Vec<String>,
    /// Each patient with an appointment, by id.
    patients: Vec<String>,
}

/// The trial's feeds, its key made (entered by `by`) on first use.
fn feeds_of(app: &App, trial: &str, by: &str) -> Result<Feeds, Failure> {
    let key = feed_key::key(&mut *app.db()?, by)?;
    let (_, t) = trials::find(app, trial)?;
    let (sites, patients) = match trials::load(app, trial)? {
        Some(inputs) => {
            let roster = &inputs.roster_file().roster;
            let patients = roster
                .by_id
                .iter()
                .map(|&i| &roster.entries[i as usize])
                .filter(|e| crate::export::ics::has_events(&t.arms[e.arm as usize]))
                .map(|e| e.id.to_string())
                .collect();
            let sites = roster.sites.iter().map(|s| s.to_string()).collect();
            (sites, patients)
        }
        None => (Vec::new(), Vec::new()),
    };
    Ok(Feeds {
        trial: t.id,
        key,
        sites,
        patients,
    })
}

/// The address a calendar app subscribes to, from the request's Host header.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

impl Feeds {
    fn url(&self, base: &str, kind: Kind, id: &str) -> String {
        let k: &str = kind.into();
        format!(
            "{base}/feeds/{}/{k}/{}.ics",
            self.key.token(&self.trial, kind, id),
            page::url_encode(id)
        )
    }
}

#[derive(serde::Deserialize)]
struct Done {
    done: Option<String>,
}

/// GET /trials/{trial}/feeds: every feed's address, with how to subscribe.
async fn list(
    State(app): State<App>,
    user: Signed,
    headers: HeaderMap,
    Path(trial): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, Failure> {
    let by = user.name.clone();
    let feeds = blocking(move || feeds_of(&app, &trial, &by)).await?;
    let notice = done.done.map(|_| {
        "A new key was made: every earlier feed address has stopped working; subscribe again with the addresses below."
    });
    let body = list_body(
        &feeds,
        &base_url(&headers),
        &user,
        notice,
        &FieldErrors::default(),
        "",
    );
    Ok(page::page("Calendar feeds", &user, Some(&feeds.trial), body).into_response())
}

/// The feeds page's body: how to subscribe, the sites' and patients' addresses, and (for
/// an admin) the form that makes a new key.
fn list_body(
    feeds: &Feeds,
    base: &str,
    user: &Signed,
    notice: Option<&str>,
    errors: &FieldErrors,
    reason: &str,
) -> Markup {
    html! {
        h1 { "Calendar feeds of " (feeds.trial) }
        @if let Some(n) = notice { (page::notice(n)) }
        p { "Each address below is a calendar that keeps itself up to date: the doses and visits as the record stands now, each changed event marked as changed. "
            "Subscribe once: in Outlook, " em { "Add calendar › Subscribe from web" }
            "; in Google Calendar, " em { "Other calendars › From URL" }
            "; on an iPhone, " em { "Settings › Calendar › Accounts › Add Subscribed Calendar" }
            ". Copy the whole address. Anyone who has an address can read that calendar without signing in: share it only with the people who need it." }
        h2 { "Sites" }
        @if feeds.sites.is_empty() { p.muted { "No site: the trial has no patient in the database yet." } }
        (feed_table("Site", &feeds.sites, |id| feeds.url(base, Kind::Site, id)))
        h2 { "Patients" }
        @if feeds.patients.is_empty() { p.muted { "No patient with an appointment yet." } }
        (feed_table("Patient", &feeds.patients, |id| feeds.url(base, Kind::Patient, id)))
        @if user.role == Role::Admin { (new_key_form(feeds, user, errors, reason)) }
    }
}

/// A table of ids and their feed addresses.
fn feed_table(what: &str, ids: &[String], url: impl Fn(&str) -> String) -> Markup {
    html! {
        @if !ids.is_empty() {
            div.table-wrap { table.stack {
                thead { tr { th { (what) } th { "Calendar feed address (.ics)" } } }
                tbody { @for id in ids {
                    @let u = url(id);
                    tr {
                        td data-label=(what) style="white-space: nowrap" { (id) }
                        td data-label="Address" { a href=(u) { code style="word-break: break-all" { (u) } } }
                    }
                } }
            } }
        }
    }
}

/// The admin's form: a new key, with its reason.
fn new_key_form(feeds: &Feeds, user: &Signed, errors: &FieldErrors, reason: &str) -> Markup {
    html! {
        form.no-print method="post" action={ "/trials/" (feeds.trial) "/feeds/new-key" } {
            fieldset {
                legend { "Stop every feed address (a new key)" }
                p.muted { "For when an address was shared with someone who should not have it. Every site's and patient's address, of every trial, changes: each subscriber must subscribe again." }
                (page::csrf_field(user))
                (page::form_errors(errors, &["reason"]))
                (page::field("Reason (required)", "reason", "text", reason, errors.of("reason")))
                button type="submit" { "Make a new key" }
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct NewKey {
    #[serde(default)]
    reason: String,
}

/// POST /trials/{trial}/feeds/new-key (admin): a new feed key, with its reason.
async fn new_key(
    State(app): State<App>,
    user: Signed,
    headers: HeaderMap,
    Path(trial): Path<String>,
    axum::Form(form): axum::Form<NewKey>,
) -> Result<Response, Failure> {
    user.require(Role::Admin)?;
    let (by, reason, t) = (user.name.clone(), form.reason.clone(), trial.clone());
    if reason.trim().is_empty() {
        let feeds = blocking(move || feeds_of(&app, &t, &by)).await?;
        let mut errors = FieldErrors::default();
        errors.add("reason", feed_key::NEEDS_REASON);
        let body = list_body(
            &feeds,
            &base_url(&headers),
            &user,
            None,
            &errors,
            &form.reason,
        );
        let page = page::page("Calendar feeds", &user, Some(&feeds.trial), body);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    blocking(move || feed_key::renew(&mut *app.db()?, &by, &reason)).await?;
    let to = format!("/trials/{}/feeds?done=new-key", page::url_encode(&trial));
    Ok(Redirect::to(&to).into_response())
}
