//! FHIR R4 JSON: one Bundle (type `collection`) per patient, `<PATIENT_ID>.json`.
//!
//! Each Bundle holds the patient (an identifier, no invented name or sex; dead on the date
//! of a recorded death) and their body weight at the start and each the record gives, the trial as a ResearchStudy and the patient's place in it (a
//! ResearchSubject with the assigned arm), the site as a Location, a Medication per cell
//! product, the plan (a CarePlan whose activities are a MedicationRequest per infusion
//! component, a ServiceRequest per plasma exchange component and an Appointment per visit)
//! and, from the record, a MedicationAdministration per infusion given or missed (with a
//! BiologicallyDerivedProduct for a recorded lot) and a Procedure per exchange given or
//! missed.
//!
//! The stages: [`base`] (who and what), [`plan`] (the requests and the CarePlan),
//! [`record`] (what was given), [`ids`] (names to ids). Every assumed value is marked by
//! an extension `urn:dosesim:assumed` on the resource it rests on.

pub mod base;
pub mod ids;
pub mod plan;
pub mod record;

use serde_json::{Value, json};

use super::{Export, Files, Options, SITE_UTC_OFFSET, Subject};
use crate::model::{Assumed, Assumption, Trial, Unit};

/// One Bundle per patient, in the order of their ids.
pub fn files(export: &Export, options: &Options) -> anyhow::Result<Files> {
    export
        .subjects
        .iter()
        .map(|s| {
            // A Bundle named manifest.json would be overwritten by the folder's manifest.
            if format!("{}.json", s.patient.id).eq_ignore_ascii_case(crate::manifest::FILE) {
                anyhow::bail!(
                    "patient id {} cannot be exported as FHIR: its Bundle would be named {}, the export folder's manifest",
                    s.patient.id,
                    crate::manifest::FILE
                );
            }
            let bundle = bundle(export, s, options);
            let mut bytes = serde_json::to_vec_pretty(&bundle)?;
            bytes.push(b'\n');
            Ok((format!("{}.json", s.patient.id), bytes))
        })
        .collect()
}

/// The Bundle of one patient.
pub fn bundle(export: &Export, s: &Subject, options: &Options) -> Value {
    let trial = export.trial;
    let cx = Cx::new(trial, s);
    let mut entries = Entries::default();
    base::add(&cx, &mut entries);
    plan::add(&cx, &mut entries);
    record::add(&cx, &mut entries);
    let stamp = format!(
        "{}{SITE_UTC_OFFSET}",
        options.created.format("%Y-%m-%dT%H:%M:%S")
    );
    json!({
        "resourceType": "Bundle",
        "id": cx.id(&["bundle"]),
        "meta": {"extension": [assumed_offset("the timestamp")]},
        "identifier": {"system": ids::system(&trial.id, "bundle"), "value": s.patient.id},
        "type": "collection",
        "timestamp": stamp,
        "entry": entries.0,
    })
}

/// What every stage needs: the trial, the patient and the assumptions that may apply to them.
pub struct Cx<'a, 't> {
    pub trial: &'t Trial,
    pub s: &'a Subject<'t>,
    /// Every assumed value the patient's arm rests on, with its reason.
    assumptions: Vec<Assumption>,
}

impl<'a, 't> Cx<'a, 't> {
    fn new(trial: &'t Trial, s: &'a Subject<'t>) -> Self {
        let mut assumptions = s.arm.assumptions(trial);
        if s.patient.site.is_some() {
            assumptions.extend(s.arm.closed_day_assumptions());
        }
        let weights = s.events.iter().any(|e| e.weight.is_some());
        assumptions.extend(s.arm.record_assumptions(weights));
        Cx {
            trial,
            s,
            assumptions,
        }
    }

    /// The id of one of this patient's resources, named by `parts`.
    pub fn id(&self, parts: &[&str]) -> String {
        let mut all = vec![self.trial.id.as_str(), self.s.patient.id.as_str()];
        all.extend_from_slice(parts);
        ids::uuid(&all)
    }

    /// The id of a resource of the trial's (the same in every patient's Bundle).
    pub fn trial_id(&self, parts: &[&str]) -> String {
        let mut all = vec![self.trial.id.as_str(), "(trial)"];
        all.extend_from_slice(parts);
        ids::uuid(&all)
    }

    /// An identifier of dosesim's for a resource: the system names the trial and the kind
    /// (`urn:dosesim:NCT01724398:request`), the value the patient and the rest.
    pub fn identifier(&self, kind: &str, rest: &[&str]) -> Value {
        let mut value = self.s.patient.id.clone();
        for r in rest {
            value.push('/');
            value.push_str(r);
        }
        json!([{"system": ids::system(&self.trial.id, kind), "value": value}])
    }

    /// The `urn:dosesim:assumed` extension for `flags` of `item`: the flags' names, then
    /// each assumption they stand for (and each of `extra`, the names of assumptions the
    /// record's reading rests on) with its reason. `None` when nothing is assumed.
    pub fn assumed(&self, flags: Assumed, item: Item, extra: &[String]) -> Option<Value> {
        let mut names = item.names(flags);
        names.extend_from_slice(extra);
        let why: Vec<String> = self
            .assumptions
            .iter()
            .filter(|a| names.contains(&a.what))
            .map(|a| format!("{}: {}", a.what, a.reason.trim_end_matches('.')))
            .collect();
        if flags.is_empty() && why.is_empty() {
            return None;
        }
        let mut text = String::from("assumed: ");
        if flags.is_empty() {
            text.push_str(&why.join(". "));
        } else {
            text.push_str(&flags.to_string());
            if !why.is_empty() {
                text.push_str(&format!(". {}", why.join(". ")));
            }
        }
        text.push_str(&format!(" (dosesim show {})", self.trial.id));
        Some(json!({"url": ids::ASSUMED_URL, "valueString": text}))
    }
}

/// What an assumed value belongs to, to name the assumptions behind its flags.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    /// A component (its id) and its product's id.
    Component(&'a str, &'a str),
    Visit(&'a str),
    Background(&'a str),
    Product(&'a str),
}

impl Item<'_> {
    /// The names of the assumptions (as [`Trial::assumptions`] and the arm's closed-day
    /// and record assumptions name them) that `flags` on this item stand for.
    pub fn names(self, flags: Assumed) -> Vec<String> {
        let mut out = Vec::new();
        let mut when = |flag: Assumed, names: &[String]| {
            if flags.contains(flag) {
                out.extend_from_slice(names);
            }
        };
        match self {
            Item::Component(c, p) => {
                when(Assumed::DOSE, &[format!("{c} dose")]);
                when(Assumed::TIMING, &[format!("{c} timing")]);
                when(Assumed::ROUTE, &[format!("{c} route")]);
                when(Assumed::DURATION, &[format!("{c} duration")]);
                when(Assumed::PRODUCT, &[format!("product {p}")]);
                let moves = [
                    format!("{c} on a closed day"),
                    format!("{c} window for a move"),
                    format!("{c} minimum gap"),
                ];
                when(Assumed::CLOSED_DAY_RULE, &moves);
                let record = [format!("{c} anchor"), format!("{c} minimum gap")];
                when(Assumed::REPROJECTION_RULE, &record);
            }
            Item::Visit(v) => {
                when(Assumed::DAY, &[format!("visit {v} day")]);
                when(Assumed::WINDOW, &[format!("visit {v} window")]);
                when(
                    Assumed::CLOSED_DAY_RULE,
                    &[format!("visit {v} on a closed day")],
                );
            }
            Item::Background(b) => when(Assumed::BACKGROUND, &[format!("background {b}")]),
            Item::Product(p) => when(Assumed::PRODUCT, &[format!("product {p}")]),
        }
        let mut seen = Vec::new();
        out.retain(|n| {
            let new = !seen.contains(n);
            seen.push(n.clone());
            new
        });
        out
    }
}

/// The extension saying that the UTC offset of `what` is assumed, and why.
pub fn assumed_offset(what: &str) -> Value {
    json!({
        "url": ids::ASSUMED_URL,
        "valueString": format!(
            "assumed: UTC offset {SITE_UTC_OFFSET} of {what} ({})",
            super::SITE_UTC_OFFSET_REASON
        ),
    })
}

/// The entries of a Bundle, in the order added.
#[derive(Default)]
pub struct Entries(pub Vec<Value>);

impl Entries {
    /// Adds `resource` with id `id`, its `fullUrl` made from the id.
    pub fn push(&mut self, id: &str, mut resource: Value) {
        if let Value::Object(m) = &mut resource {
            m.insert("id".into(), Value::String(id.to_string()));
        }
        self.0
            .push(json!({"fullUrl": ids::full_url(id), "resource": resource}));
    }
}

/// A reference to the resource with id `id` in the same Bundle.
pub fn reference(id: &str) -> Value {
    json!({"reference": ids::full_url(id)})
}

/// A number as JSON: whole numbers without a decimal point (4580000, not 4580000.0).
pub fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// The code system of units (UCUM).
pub const UCUM: &str = "http://unitsofmeasure.org";

/// An amount in a product's unit as a UCUM Quantity: `{cells}` (an annotation, a count)
/// or `mL`.
pub fn quantity(x: f64, unit: Unit) -> Value {
    let code = match unit {
        Unit::Cells => "{cells}",
        Unit::Ml => "mL",
    };
    json!({
        "value": number(x),
        "unit": unit.as_str(),
        "system": UCUM,
        "code": code,
    })
}

/// Adds `ext` (if any) to the resource's `extension` list.
pub fn mark(resource: &mut Value, ext: Option<Value>) {
    let (Some(ext), Value::Object(m)) = (ext, resource) else {
        return;
    };
    let list = m.entry("extension").or_insert_with(|| json!([]));
    if let Value::Array(a) = list {
        a.push(ext);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_whole_without_a_point_and_quantities_are_ucum() {
        assert_eq!(number(4580000.0).to_string(), "4580000");
        assert_eq!(number(45.8).to_string(), "45.8");
        let q = quantity(24040000.0, Unit::Cells);
        assert_eq!(q["code"], "{cells}");
        assert_eq!(q["unit"], "cells");
        assert_eq!(q["system"], UCUM);
        assert_eq!(quantity(2000.0, Unit::Ml)["code"], "mL");
    }

    #[test]
    fn an_items_flags_name_the_assumptions_behind_them() {
        let c = Item::Component("uc_msc", "cells");
        assert_eq!(c.names(Assumed::NONE), Vec::<String>::new());
        assert_eq!(
            c.names(Assumed::TIMING | Assumed::PRODUCT),
            ["uc_msc timing", "product cells"]
        );
        assert_eq!(
            c.names(Assumed::CLOSED_DAY_RULE | Assumed::REPROJECTION_RULE),
            [
                "uc_msc on a closed day",
                "uc_msc window for a move",
                "uc_msc minimum gap",
                "uc_msc anchor",
            ]
        );
        assert_eq!(
            Item::Visit("day30").names(Assumed::DAY | Assumed::WINDOW),
            ["visit day30 day", "visit day30 window"]
        );
    }

    #[test]
    fn a_mark_is_added_to_the_extensions_and_none_adds_nothing() {
        let mut r = json!({"resourceType": "Procedure"});
        mark(&mut r, None);
        assert!(r.get("extension").is_none());
        mark(&mut r, Some(assumed_offset("the time")));
        mark(&mut r, Some(json!({"url": "x"})));
        let list = r["extension"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["url"], ids::ASSUMED_URL);
        assert!(list[0]["valueString"].as_str().unwrap().contains("+08:00"));
    }
}
