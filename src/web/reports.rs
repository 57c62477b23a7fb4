//! The trial report and the forecast, as `dosesim cohort --db` and `dosesim forecast --db`
//! write them (report.html, forecast.html with its CSV files), made in memory from the
//! database's books as of now ([`crate::bundle::report_of_folder`],
//! [`crate::bundle::forecast_pages`]). Both take seconds, so each is kept per trial until
//! the ledger's head (or the day) moves on. Every role reads them.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::NaiveDate;
use maud::html;

use super::auth::Signed;
use super::page::{self, Failure};
use super::{App, blocking, trials};
use crate::bundle::{self, ForecastPages};
use crate::inputs::{Inputs, Load};

/// The replicates and seed of the forecast page: the command's defaults.
const REPLICATES: u64 = crate::forecast::DEFAULT_REPLICATES;
const SEED: u64 = 1;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/trials/{trial}/report", get(report))
        .route("/trials/{trial}/forecast", get(to_forecast))
        .route("/trials/{trial}/forecast/", get(forecast))
        .route("/trials/{trial}/forecast/{file}", get(forecast_file))
}

/// What a page was made from: the database, the trial, the ledger's head and the day.
type Key = (String, String);
type Made<T> = (i64, NaiveDate, Arc<T>);

static REPORTS: LazyLock<Mutex<HashMap<Key, Made<String>>>> = LazyLock::new(Default::default);
static FORECASTS: LazyLock<Mutex<HashMap<Key, Made<ForecastPages>>>> =
    LazyLock::new(Default::default);

/// The page kept for `key` when it was made at `head` today, else `make`'s (then kept in
/// place of the older one).
fn cached<T>(
    cache: &Mutex<HashMap<Key, Made<T>>>,
    key: Key,
    head: i64,
    make: impl FnOnce() -> Result<T, Failure>,
) -> Result<Arc<T>, Failure> {
    let today = crate::db::today_utc();
    let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((h, d, made)) = lock().get(&key)
        && (*h, *d) == (head, today)
    {
        return Ok(made.clone());
    }
    let made = Arc::new(make()?);
    lock().insert(key, (head, today, made.clone()));
    Ok(made)
}

/// The ledger's head the inputs were read up to (0: not from a database).
fn head_of(inputs: &Inputs) -> i64 {
    inputs.database.as_ref().map_or(0, |d| d.head.id)
}

/// GET /trials/{trial}/report: the report a new trial folder would hold.
async fn report(
    State(app): State<App>,
    user: Signed,
    Path(trial): Path<String>,
) -> Result<Response, Failure> {
    let id = trial.clone();
    let made = blocking(move || -> Result<Option<Arc<String>>, Failure> {
        let Some(inputs) = trials::load(&app, &id)? else {
            return Ok(None);
        };
        let key = (app.config.db.label(), inputs.trial.id.clone());
        let html = cached(&REPORTS, key, head_of(&inputs), || {
            let cohort = crate::cohort::Cohort::of(&inputs)
                .map_err(|e| Failure::Internal(anyhow::anyhow!("{e}")))?;
            Ok(bundle::report_of_folder(&cohort)?)
        })?;
        Ok(Some(html))
    })
    .await?;
    match made {
        Some(html) => Ok(Html(html.as_str().to_owned()).into_response()),
        None => Ok(no_patients(&user, &trial, "report")),
    }
}

/// The page for a trial with no patient in the database yet.
fn no_patients(user: &Signed, trial: &str, what: &str) -> Response {
    let body = html! {
        h1 { "Trial " (what) }
        p { "Trial " (trial) " has no patient in the database yet: enrol one on the "
            a href={ "/trials/" (trial) "/patients" } { "Patients" } " page, or import a roster with "
            code { "dosesim roster import" } "." }
    };
    page::page(what, user, Some(trial), body).into_response()
}

/// GET /trials/{trial}/forecast: to the forecast's own folder-like address, so that the
/// page's links to its CSV files resolve as they do in the forecast folder.
async fn to_forecast(_user: Signed, Path(trial): Path<String>) -> Redirect {
    Redirect::to(&format!("/trials/{}/forecast/", page::url_encode(&trial)))
}

/// GET /trials/{trial}/forecast/: forecast.html as `dosesim forecast TRIAL --db` writes it.
async fn forecast(
    State(app): State<App>,
    user: Signed,
    Path(trial): Path<String>,
) -> Result<Response, Failure> {
    let id = trial.clone();
    let made = blocking(move || forecast_of(&app, &id)).await?;
    match made {
        Some(f) => Ok(Html(f.html.clone()).into_response()),
        None => Ok(no_plan(&user, &trial)),
    }
}

/// GET /trials/{trial}/forecast/{file}: one of the forecast's CSV files.
async fn forecast_file(
    State(app): State<App>,
    _user: Signed,
    Path((trial, file)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let made = blocking(move || forecast_of(&app, &trial)).await?;
    let bytes = made
        .as_ref()
        .and_then(|f| f.files.iter().find(|(name, _)| *name == file))
        .map(|(_, b)| b.clone())
        .ok_or_else(|| Failure::NotFound(format!("the forecast has no file {file}")))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], bytes).into_response())
}

/// The trial's forecast (kept until the ledger moves on); `None` when it has no plan.
fn forecast_of(app: &App, id: &str) -> Result<Option<Arc<ForecastPages>>, Failure> {
    let Some(inputs) = forecast_inputs(app, id)? else {
        return Ok(None);
    };
    let key = (app.config.db.label(), inputs.trial.id.clone());
    let pages = cached(&FORECASTS, key, head_of(&inputs), || {
        Ok(bundle::forecast_pages(&inputs, REPLICATES, SEED)?)
    })?;
    Ok(Some(pages))
}

/// The trial's scenario, its bundled plan (`None` without one), and its roster and
/// record from the database when it has them: what `dosesim forecast TRIAL --db` reads.
fn forecast_inputs(app: &App, id: &str) -> Result<Option<Inputs>, Failure> {
    let (file, _) = trials::find(app, id)?;
    let calendars = app.config.scenarios.join("calendars");
    let loaded = Load::file(&file)
        .database(Some(&app.config.db))
        .without_record_copy()
        .calendars(&calendars)
        .demo_plan()
        .load(&|_| {})
        .map_err(|e| {
            Failure::Internal(anyhow::anyhow!("the trial's inputs cannot be read:\n{e}"))
        })?;
    Ok(loaded.plan.is_some().then_some(loaded))
}

/// The page for a trial with no forecast plan.
fn no_plan(user: &Signed, trial: &str) -> Response {
    let body = html! {
        h1 { "Forecast" }
        p { "Trial " (trial) " has no forecast plan: a forecast needs "
            code { "plans/<trial id>.toml" } " beside the scenario (see "
            code { "dosesim forecast --help" } ")." }
    };
    page::page("Forecast", user, Some(trial), body).into_response()
}
