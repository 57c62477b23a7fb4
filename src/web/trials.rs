//! The first page (the trials of scenarios/, with a link to each one's pages), and how a
//! page finds a trial and reads its inputs from the database.

use std::path::PathBuf;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;

use super::auth::Signed;
use super::page::{self, Failure};
use super::{App, blocking};
use crate::inputs::{Inputs, Load};
use crate::model::Trial;

pub fn routes() -> Router<App> {
    Router::new().route("/", get(index))
}

/// Every scenario of the server's scenarios folder, by trial id.
pub fn scenario_files(app: &App) -> Result<Vec<PathBuf>, Failure> {
    crate::scenario::files_in(&app.config.scenarios)
        .map_err(|e| Failure::Internal(anyhow::anyhow!("{e}")))
}

/// The trial `id` names (a trial id, any letter case): its scenario file and the trial.
pub fn find(app: &App, id: &str) -> Result<(PathBuf, Trial), Failure> {
    for f in scenario_files(app)? {
        let trial =
            crate::scenario::load(&f).map_err(|e| Failure::Internal(anyhow::anyhow!("{e}")))?;
        if trial.id.eq_ignore_ascii_case(id) {
            return Ok((f, trial));
        }
    }
    Err(Failure::NotFound(format!(
        "there is no trial {id} in {}",
        app.config.scenarios.display()
    )))
}

/// The trial's inputs: its scenario, the site calendars, and its roster and record read
/// from the database (each correction in place, each void left out), checked as the
/// commands check them. `Ok(None)`: the trial has no patient in the database yet.
pub fn load(app: &App, id: &str) -> Result<Option<Inputs>, Failure> {
    let (file, _) = find(app, id)?;
    let calendars = app.config.scenarios.join("calendars");
    let loaded = Load::file(&file)
        .database(Some(&app.config.db))
        .without_record_copy()
        .calendars(&calendars)
        .load(&|_| {});
    match loaded {
        Ok(i) if i.roster.is_none() => Ok(None),
        Ok(i) => Ok(Some(i)),
        Err(e) => Err(Failure::Internal(anyhow::anyhow!(
            "the trial's inputs cannot be read:\n{e}"
        ))),
    }
}

async fn index(State(app): State<App>, user: Signed) -> Result<Response, Failure> {
    let app2 = app.clone();
    let trials = blocking(move || -> Result<Vec<Trial>, Failure> {
        scenario_files(&app2)?
            .iter()
            .map(|f| {
                crate::scenario::load(f).map_err(|e| Failure::Internal(anyhow::anyhow!("{e}")))
            })
            .collect()
    })
    .await?;
    let body = html! {
        h1 { "Trials" }
        p.muted { "Database: " (app.config.db.label()) }
        div.table-wrap {
            table.stack {
                thead { tr { th { "Trial" } th { "Title" } th { "Pages" } } }
                tbody {
                    @for t in &trials {
                        tr {
                            td data-label="Trial" { (t.id) }
                            td data-label="Title" { (t.title) }
                            td data-label="Pages" {
                                a href={ "/trials/" (t.id) "/day" } { "Day" } " · "
                                a href={ "/trials/" (t.id) "/patients" } { "Patients" } " · "
                                a href={ "/trials/" (t.id) "/audit" } { "Audit trail" } " · "
                                a href={ "/trials/" (t.id) "/report" } { "Report" } " · "
                                a href={ "/trials/" (t.id) "/forecast" } { "Forecast" } " · "
                                a href={ "/trials/" (t.id) "/feeds" } { "Calendar feeds" }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page::page("Trials", &user, None, body).into_response())
}
