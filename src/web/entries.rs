//! Corrections and voids: an entry of the roster, the record or a dose's preparation
//! corrected (a new entry with its fields changed and a reason, that takes its place) or
//! voided (a new entry that takes it out, with a reason), through `books::correct` and
//! `books::void`; the old entry stays in the database and on the patient's page. Who may:
//! the entry's owner by `users::whose` (the roster, weights, ends and visits the
//! coordinator's; doses and preparation steps the pharmacist's; an admin all).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;

use super::auth::Signed;
use super::page::{self, Failure, FieldErrors, Opts};
use super::{App, blocking, trials};
use crate::db::books::{self, Face, Refused};
use crate::db::{Book, Entry, Fields, entry::field_names, users};
use crate::model::Trial;

pub fn routes() -> Router<App> {
    Router::new()
        .route(
            "/entries/{id}/correct",
            get(correct_page).post(correct_post),
        )
        .route("/entries/{id}/void", get(void_page).post(void_post))
}

/// What an entry says, in words with units: "arm msc, 61.5 kg, starting 2026-12-01, site
/// GZ-SYSU3"; "2026-11-20 given uc_msc #1, 5.80 x 10⁷ cells (note)"; "2026-11-20
/// prepared uc_msc #1, ..., lot L1".
pub fn says(trial: &Trial, f: &Fields) -> String {
    let v = &f.values;
    match f.book() {
        Book::Roster => {
            let mut s = format!("arm {}, {} kg, starting {}", v[0], v[1], v[2]);
            if !v[3].is_empty() {
                s.push_str(&format!(", site {}", v[3]));
            }
            s
        }
        Book::Record => {
            let mut s = format!("{} {}", v[0], v[1]);
            if !v[2].is_empty() {
                s.push_str(&format!(" {} #{}", v[2], v[3]));
            }
            if !v[4].is_empty() {
                s.push_str(&format!(
                    ", {}",
                    amount_with_unit(trial, &v[1], &v[2], &v[4])
                ));
            }
            if !v[5].is_empty() {
                s.push_str(&format!(" ({})", v[5]));
            }
            s
        }
        Book::Prep => {
            let mut s = format!("{} {} {} #{}", v[0], v[1], v[2], v[3]);
            if !v[4].is_empty() {
                s.push_str(&format!(
                    ", {}",
                    amount_with_unit(trial, "given", &v[2], &v[4])
                ));
            }
            if !v[5].is_empty() {
                s.push_str(&format!(", lot {}", v[5]));
            }
            s
        }
        Book::User | Book::Database => f.origin(),
    }
}

/// A record's amount with its unit: kg for a weight, the product's unit (cells, mL) for a
/// dose.
pub fn amount_with_unit(trial: &Trial, record: &str, component: &str, amount: &str) -> String {
    if record.trim() == "weight" {
        return format!("{amount} kg");
    }
    let unit = trial
        .arms
        .iter()
        .flat_map(|a| &a.components)
        .find(|c| c.id.eq_ignore_ascii_case(component.trim()))
        .map(|c| trial.products[c.product].unit.as_str());
    match unit {
        Some(u) => format!("{amount} {u}"),
        None => amount.to_string(),
    }
}

/// An entry that may be corrected or voided here, its trial, and the user allowed to.
struct Target {
    entry: Entry,
    trial: Trial,
}

/// Entry `id`: there, of a trial's roster, record or preparation, and the user's part.
fn target(app: &App, user: &Signed, id: i64) -> Result<Target, Failure> {
    let mut db = app.db()?;
    let Some(entry) = books::entry(&mut db, id)? else {
        return Err(Failure::NotFound(format!("there is no entry {id}")));
    };
    if !matches!(
        entry.fields.book(),
        Book::Roster | Book::Record | Book::Prep
    ) {
        return Err(Failure::NotFound(format!(
            "entry {id} is not a roster, record or preparation entry"
        )));
    }
    let (_, trial) = trials::find(app, &entry.fields.trial_id)?;
    user.require(users::whose(
        &trial,
        entry.fields.book(),
        &entry.fields.values,
    ))?;
    Ok(Target { entry, trial })
}

/// The patient's page, where the entry and what became of it are shown.
fn patient_page(t: &Target, done: &str) -> String {
    format!(
        "/trials/{}/patients/{}?done={}",
        page::url_encode(&t.trial.id),
        page::url_encode(&t.entry.fields.patient_id),
        page::url_encode(done)
    )
}

/// The fields a correction form shows for the entry's book.
fn form_fields(book: Book) -> Vec<&'static str> {
    field_names(book)
        .iter()
        .copied()
        .filter(|n| !n.is_empty())
        .collect()
}

/// A field's label, with its unit.
fn label(name: &str) -> String {
    match name {
        "weight_kg" => "Weight (kg)".to_string(),
        "amount" => "Amount (cells, mL, or kg for a weight)".to_string(),
        "start_date" => "Start date (day 1)".to_string(),
        "date" => "Date".to_string(),
        other => {
            let mut s = other.replace('_', " ");
            if let Some(c) = s.get_mut(0..1) {
                c.make_ascii_uppercase();
            }
            s
        }
    }
}

/// What the entry says and who entered it, above the form.
fn the_entry(t: &Target) -> Markup {
    let f = &t.entry.fields;
    html! {
        p {
            "Entry " (t.entry.id) " (" (f.book().as_str()) ") of patient "
            a href={ "/trials/" (t.trial.id) "/patients/" (f.patient_id) } { (f.patient_id) }
            ": " strong { (says(&t.trial, f)) }
        }
        p.muted { "Entered by " (f.entered_by) " at " (f.entered_at) " (UTC), from " (f.origin()) "." }
    }
}

#[derive(Deserialize, Default)]
struct Form {
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

impl Form {
    fn get(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// The correction form, with the entry's fields (or those typed) and the errors.
fn correct_form(user: &Signed, t: &Target, typed: Option<&Form>, errors: &FieldErrors) -> Markup {
    let names = form_fields(t.entry.fields.book());
    let value = |k: usize, n: &str| match typed {
        Some(f) => f.get(n).to_string(),
        None => t.entry.fields.values[k].clone(),
    };
    let mut shown = names.clone();
    shown.push("reason");
    html! {
        h1 { "Correct entry " (t.entry.id) }
        (the_entry(t))
        p { "The correction is a new entry that takes this one's place; this entry stays in the record, with your reason." }
        (page::form_errors(errors, &shown))
        form method="post" action={ "/entries/" (t.entry.id) "/correct" } {
            (page::csrf_field(user))
            fieldset {
                legend { "New values" }
                @for (k, n) in names.iter().enumerate() {
                    (page::field(&label(n), n, kind(n), &value(k, n), errors.of(n)))
                }
            }
            (page::field_with("Reason for the correction", "reason", "text",
                typed.map_or("", |f| f.get("reason")), errors.of("reason"),
                Opts { required: true, ..Default::default() }))
            button type="submit" { "Record the correction" }
        }
    }
}

/// The input type of a field.
fn kind(name: &str) -> &'static str {
    if name.ends_with("date") {
        "date"
    } else {
        "text"
    }
}

async fn correct_page(
    State(app): State<App>,
    user: Signed,
    Path(id): Path<i64>,
) -> Result<Response, Failure> {
    let u = user.clone();
    let t = blocking(move || target(&app, &u, id)).await?;
    refuse_prep(&t)?;
    let body = correct_form(&user, &t, None, &FieldErrors::default());
    Ok(page::page("Correct an entry", &user, Some(&t.trial.id), body).into_response())
}

/// A preparation step is voided and recorded again, not corrected.
fn refuse_prep(t: &Target) -> Result<(), Failure> {
    if t.entry.fields.book() == Book::Prep {
        return Err(Failure::NotFound(format!(
            "entry {} is a preparation step: void it (/entries/{}/void) and record the step again",
            t.entry.id, t.entry.id
        )));
    }
    Ok(())
}

/// The fields the form changes: (name, new value) of each that differs from the entry.
fn changes(t: &Target, f: &Form) -> Vec<(String, String)> {
    form_fields(t.entry.fields.book())
        .iter()
        .enumerate()
        .filter(|(k, n)| f.get(n).trim() != t.entry.fields.values[*k])
        .map(|(_, n)| (n.to_string(), f.get(n).trim().to_string()))
        .collect()
}

async fn correct_post(
    State(app): State<App>,
    user: Signed,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<Form>,
) -> Result<Response, Failure> {
    let (u, a) = (user.clone(), app.clone());
    let t = blocking(move || target(&a, &u, id)).await?;
    refuse_prep(&t)?;
    let changes = changes(&t, &form);
    let mut after = t.entry.fields.values.clone();
    for (n, v) in &changes {
        if let Some(k) = form_fields(t.entry.fields.book())
            .iter()
            .position(|x| x == n)
        {
            after[k].clone_from(v);
        }
    }
    user.require(users::whose(&t.trial, t.entry.fields.book(), &after))?;
    let (trial, reason, by) = (
        t.trial.clone(),
        form.get("reason").to_string(),
        user.name.clone(),
    );
    let done = blocking(move || {
        let mut db = app.db()?;
        books::correct(&mut db, &trial, id, &changes, &reason, &by, Face::Serve)
    })
    .await;
    match done {
        Ok((new, _)) => {
            let note = format!("entry {new} corrects entry {id} (the old value is kept)");
            Ok(Redirect::to(&patient_page(&t, &note)).into_response())
        }
        Err(Refused::Input(e)) => {
            let body = correct_form(&user, &t, Some(&form), &FieldErrors::from_input(&e));
            let html = page::page("Correct an entry", &user, Some(&t.trial.id), body);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(Refused::Db(e)) => Err(Failure::Internal(e)),
    }
}

/// The void form: what will be voided, and the reason.
fn void_form(user: &Signed, t: &Target, reason: &str, errors: &FieldErrors) -> Markup {
    html! {
        h1 { "Void entry " (t.entry.id) }
        (the_entry(t))
        p { "Voiding takes this entry out of the " (t.entry.fields.book().as_str()) "; it stays in the database and in the audit trail, with your reason." }
        (page::form_errors(errors, &["reason"]))
        form method="post" action={ "/entries/" (t.entry.id) "/void" } {
            (page::csrf_field(user))
            (page::field_with("Reason for the void", "reason", "text", reason,
                errors.of("reason"), Opts { required: true, ..Default::default() }))
            button type="submit" { "Void entry " (t.entry.id) }
        }
    }
}

async fn void_page(
    State(app): State<App>,
    user: Signed,
    Path(id): Path<i64>,
) -> Result<Response, Failure> {
    let u = user.clone();
    let t = blocking(move || target(&app, &u, id)).await?;
    let body = void_form(&user, &t, "", &FieldErrors::default());
    Ok(page::page("Void an entry", &user, Some(&t.trial.id), body).into_response())
}

async fn void_post(
    State(app): State<App>,
    user: Signed,
    Path(id): Path<i64>,
    axum::Form(form): axum::Form<Form>,
) -> Result<Response, Failure> {
    let (u, a) = (user.clone(), app.clone());
    let t = blocking(move || target(&a, &u, id)).await?;
    let (trial, reason, by) = (
        t.trial.clone(),
        form.get("reason").to_string(),
        user.name.clone(),
    );
    let done = blocking(move || {
        let mut db = app.db()?;
        books::void(&mut db, &trial, id, &reason, &by, Face::Serve)
    })
    .await;
    match done {
        Ok((new, _)) => {
            let note = format!("entry {new} voids entry {id} (the old entry is kept)");
            Ok(Redirect::to(&patient_page(&t, &note)).into_response())
        }
        Err(Refused::Input(e)) => {
            let body = void_form(&user, &t, form.get("reason"), &FieldErrors::from_input(&e));
            let html = page::page("Void an entry", &user, Some(&t.trial.id), body);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(Refused::Db(e)) => Err(Failure::Internal(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_amount_has_its_unit() {
        let trial =
            crate::scenario::load(std::path::Path::new("scenarios/nct01724398.toml")).unwrap();
        assert_eq!(amount_with_unit(&trial, "weight", "", "61.5"), "61.5 kg");
        assert_eq!(
            amount_with_unit(&trial, "given", "uc_msc", "5000000"),
            "5000000 cells"
        );
        assert_eq!(label("weight_kg"), "Weight (kg)");
        assert_eq!(label("component"), "Component");
    }
}
