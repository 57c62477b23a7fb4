//! What the record says was done: a MedicationAdministration per cell infusion given
//! (`completed`, what was given) or missed (`not-done`, the note as the reason), a
//! Procedure per plasma exchange given or missed, and a BiologicallyDerivedProduct per
//! lot the day sheet recorded, which the administrations of it name.
//!
//! An administration's time is its date, or its date and the clock time the day sheet
//! wrote with the site's UTC offset (assumed, and marked so).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Cx, Entries, assumed_offset, base, ids, mark, plan, quantity, reference};
use crate::exchange::{Given, SITE_UTC_OFFSET};
use crate::model::{Assumed, Component, ComponentKind, Unit};
use crate::recorded::{Code, Status};
use crate::schedule::{Event, Origin};

/// Adds the administrations, procedures and lots, in date order.
pub fn add(cx: &Cx, out: &mut Entries) {
    let mut lots: BTreeMap<String, String> = BTreeMap::new();
    let mut done: Vec<(String, Value)> = Vec::new();
    for (k, e) in cx.s.events.iter().enumerate() {
        let Origin::Component(c) = e.origin else {
            continue;
        };
        if !matches!(e.status, Status::Given | Status::Missed) {
            continue;
        }
        let c = &cx.s.arm.components[c];
        let given = cx.s.recorded[k].clone().unwrap_or_default();
        let occurrence = e.occurrence.to_string();
        match c.kind {
            ComponentKind::CellInfusion => {
                let lot = given.lot.as_ref().map(|l| {
                    let id = cx.id(&["lot", l]);
                    lots.insert(l.clone(), id.clone());
                    id
                });
                let id = cx.id(&["administration", &c.id, &occurrence]);
                done.push((id, administration(cx, c, e, &given, lot)));
            }
            ComponentKind::PlasmaExchange => {
                let id = cx.id(&["procedure", &c.id, &occurrence]);
                done.push((id, procedure(cx, c, e, &given)));
            }
        }
    }
    for (lot, id) in &lots {
        out.push(id, product(cx, lot));
    }
    for (id, r) in done {
        out.push(&id, r);
    }
}

/// A recorded lot (or bag id) of a cell product.
fn product(cx: &Cx, lot: &str) -> Value {
    json!({
        "resourceType": "BiologicallyDerivedProduct",
        "identifier": [{"system": ids::system(&cx.trial.id, "lot"), "value": lot}],
        "productCategory": "cells",
        "quantity": 1,
    })
}

/// The date of a dose given, or its date and recorded clock time with the site's offset.
fn when(e: &Event, g: &Given) -> (String, bool) {
    match g.time {
        Some(t) => (
            format!("{}T{}{SITE_UTC_OFFSET}", e.date, t.format("%H:%M:%S")),
            true,
        ),
        None => (e.date.to_string(), false),
    }
}

/// The occurrence extension of a dose.
fn occurrence(e: &Event) -> Value {
    json!({"url": ids::OCCURRENCE_URL, "valuePositiveInt": e.occurrence})
}

/// The record's words on a dose: its note, the plan's amount when another was given, the
/// deviations found.
fn notes(e: &Event, g: &Given, unit: Unit) -> Option<Value> {
    let mut notes = Vec::new();
    if let Some(n) = &g.note {
        notes.push(json!({"text": n}));
    }
    if e.status == Status::Given
        && let (Some(p), Some(d)) = (e.planned_amount, e.dose)
        && p != d
    {
        let planned = crate::format::Amount { value: p, unit }.plain();
        notes.push(json!({"text": format!("planned {planned} {}", unit.as_str())}));
    }
    if !e.deviation.is_empty() {
        notes.push(json!({"text": format!("deviation: {}", e.deviation.text())}));
    }
    (!notes.is_empty()).then(|| json!(notes))
}

/// The assumptions the record's reading of a dose rests on: the dose tolerance behind a
/// dose flagged low or high, the weight basis behind a dose at a recorded weight.
fn record_names(c: &Component, e: &Event) -> Vec<String> {
    let mut out = Vec::new();
    if e.deviation.has(Code::DOSE_LOW) || e.deviation.has(Code::DOSE_HIGH) {
        out.push(format!("{} dose tolerance", c.id));
    }
    if e.weight.is_some() {
        out.push(format!("{} weight basis", c.id));
    }
    out
}

/// An infusion given (`completed`, with what was given) or missed (`not-done`).
fn administration(cx: &Cx, c: &Component, e: &Event, g: &Given, lot: Option<String>) -> Value {
    let unit = cx.trial.products[c.product].unit;
    let (at, timed) = when(e, g);
    let mut a = json!({
        "resourceType": "MedicationAdministration",
        "identifier": cx.identifier("administration", &[&c.id, &e.occurrence.to_string()]),
        "extension": [occurrence(e)],
        "medicationReference": reference(&base::medication_id(cx, c.product)),
        "subject": reference(&cx.id(&["patient"])),
        "effectiveDateTime": at,
        "request": reference(&plan::request_id(cx, c)),
    });
    if e.status == Status::Given {
        a["status"] = json!("completed");
        let mut dosage = json!({});
        if let Some(route) = &c.route {
            dosage["route"] = json!({"text": route.value});
        }
        if let Some(d) = e.dose {
            dosage["dose"] = quantity(d, unit);
        }
        if let Some(w) = e.weight {
            dosage["text"] = json!(format!("at a recorded weight of {w} kg"));
        }
        a["dosage"] = dosage;
    } else {
        a["status"] = json!("not-done");
        let why = g.note.as_deref().unwrap_or("recorded as missed");
        a["statusReason"] = json!([{"text": why}]);
    }
    if let Some(lot) = lot {
        a["supportingInformation"] = json!([reference(&lot)]);
    }
    if let Some(n) = notes(e, g, unit) {
        a["note"] = n;
    }
    if timed {
        mark(&mut a, Some(assumed_offset("the recorded clock time")));
    }
    let flags = Assumed::without_earlier(e.assumed);
    mark(
        &mut a,
        cx.assumed(flags, plan::item(cx, c), &record_names(c, e)),
    );
    a
}

/// An exchange given (`completed`, with the volume processed) or missed (`not-done`).
fn procedure(cx: &Cx, c: &Component, e: &Event, g: &Given) -> Value {
    let unit = cx.trial.products[c.product].unit;
    let (at, timed) = when(e, g);
    let mut ext = vec![occurrence(e)];
    let mut p = json!({
        "resourceType": "Procedure",
        "identifier": cx.identifier("procedure", &[&c.id, &e.occurrence.to_string()]),
        "basedOn": [reference(&plan::request_id(cx, c))],
        "code": {"text": c.name},
        "subject": reference(&cx.id(&["patient"])),
        "performedDateTime": at,
    });
    if e.status == Status::Given {
        p["status"] = json!("completed");
        if let Some(v) = e.dose {
            ext.push(json!({"url": ids::VOLUME_URL, "valueQuantity": quantity(v, unit)}));
        }
    } else {
        p["status"] = json!("not-done");
        let why = g.note.as_deref().unwrap_or("recorded as missed");
        p["statusReason"] = json!({"text": why});
    }
    p["extension"] = json!(ext);
    if let Some(loc) = base::location_id(cx) {
        p["location"] = reference(&loc);
    }
    if let Some(n) = notes(e, g, unit) {
        p["note"] = n;
    }
    if timed {
        mark(&mut p, Some(assumed_offset("the recorded clock time")));
    }
    let flags = Assumed::without_earlier(e.assumed);
    mark(
        &mut p,
        cx.assumed(flags, plan::item(cx, c), &record_names(c, e)),
    );
    p
}
