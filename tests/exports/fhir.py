"""Checks a `dosesim export fhir` folder: one FHIR R4 Bundle per patient, <PATIENT_ID>.json.

check(folder, pharmacy, shared) returns every problem found ([] when the export passes):

- every Bundle and every resource in it validates against FHIR R4's JSON Schema
  (shared/fhir-r4/fhir.schema.json, draft-06; each resource against its own definition, the
  Bundle with its entries' resources checked apart, which is the same check made faster);
- every Bundle parses with fhir.resources' R4B models (the closest they have to R4);
- ours, for what neither checks (invariants, bindings, meaning):
  * each Bundle is a `collection` with a timestamp; fullUrls are unique, each
    `urn:uuid:` + the resource's id; every reference inside the Bundle resolves to an entry;
  * every Timing `periodUnit`/`durationUnit` is a UnitsOfTime code (s, min, h, d, wk, mo,
    a), every `when` an EventTiming code, and a `duration`/`period` has its unit;
  * no value is empty (an empty object, list or string, or null);
  * every UCUM Quantity is one of the units dosesim writes ({cells}, mL, kg) with its
    human unit; MedicationRequest and ServiceRequest have intent "plan";
  * the round trip: the requests' Timing dates (numbered by occurrence) with their doses,
    the administrations and procedures overriding the amounts of the doses given, are
    exactly pharmacy.csv's dose rows for the patient less missed and cancelled ones
    (date, occurrence, amount, unit); the completed MedicationAdministrations are exactly
    its given infusions (date, amount), the completed Procedures its given exchanges, and
    the not-done ones its missed doses;
  * a request whose doses pharmacy.csv marks assumed carries the `urn:dosesim:assumed`
    extension; an instant with the site's UTC offset is marked assumed on its resource.

BREAKAGES: each (what it breaks, function that breaks a copy of an export folder in place).
"""

import calendar
import copy
import csv
import datetime
import functools
import json
import pathlib
import re

UNITS_OF_TIME = {"s", "min", "h", "d", "wk", "mo", "a"}
EVENT_TIMING = {
    "MORN", "MORN.early", "MORN.late", "NOON", "AFT", "AFT.early", "AFT.late", "EVE",
    "EVE.early", "EVE.late", "NIGHT", "PHS", "HS", "WAKE", "C", "CM", "CD", "CV", "AC",
    "ACM", "ACD", "ACV", "PC", "PCM", "PCD", "PCV",
}
UCUM = "http://unitsofmeasure.org"
# The UCUM codes dosesim writes, with the unit people read.
QUANTITY_UNITS = {"{cells}": "cells", "mL": "mL", "kg": "kg"}
DOSE_UNIT_CODES = {"cells": "{cells}", "mL": "mL"}
ASSUMED = "urn:dosesim:assumed"
OCCURRENCE = "urn:dosesim:occurrence"
VOLUME = "urn:dosesim:volume"
ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def check(folder: pathlib.Path, pharmacy: pathlib.Path, shared: pathlib.Path) -> list[str]:
    problems = []
    rows = _pharmacy(pharmacy)
    files = sorted(f for f in folder.glob("*.json") if f.name != "manifest.json")
    patients = {name[: -len(".json")] for name in (f.name for f in files)}
    expected = set(rows)
    for pid in sorted(expected - patients):
        problems.append(f"{pid}.json: missing: pharmacy.csv has patient {pid}")
    for pid in sorted(patients - expected):
        problems.append(f"{pid}.json: patient {pid} is not in pharmacy.csv")
    for f in files:
        try:
            bundle = json.loads(f.read_text(encoding="utf-8"))
        except ValueError as e:
            problems.append(f"{f.name}: not JSON: {e}")
            continue
        problems += [f"{f.name}: {p}" for p in _check_bundle(bundle, shared)]
        pid = f.name[: -len(".json")]
        if pid in rows and isinstance(bundle, dict):
            problems += [f"{f.name}: {p}" for p in _round_trip(bundle, rows[pid])]
            problems += [f"{f.name}: {p}" for p in _weights(bundle, rows[pid])]
    return problems


# --- pharmacy.csv -------------------------------------------------------------------------


def _pharmacy(path):
    """Each patient's dose rows (infusions and exchanges) of pharmacy.csv."""
    out = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["patient_id"], [])
            if row["kind"] in ("cell_infusion", "plasma_exchange"):
                out[row["patient_id"]].append(row)
    return out


# --- validators ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _schema(shared):
    import jsonschema

    schema = json.loads((pathlib.Path(shared) / "fhir-r4" / "fhir.schema.json").read_text())
    validators = {}

    def validator(name):
        if name not in validators:
            sub = {"$ref": f"#/definitions/{name}", "definitions": schema["definitions"]}
            validators[name] = jsonschema.Draft6Validator(sub)
        return validators[name]

    return schema, validator


def _validate(bundle, shared):
    """The JSON Schema's complaints: the Bundle less its entries' resources, then each."""
    schema, validator = _schema(str(shared))
    problems = []
    shell = copy.deepcopy(bundle)
    for e in shell.get("entry", []) if isinstance(shell.get("entry"), list) else []:
        if isinstance(e, dict):
            e.pop("resource", None)
    for err in validator("Bundle").iter_errors(shell):
        problems.append(f"Bundle{_path(err)}: {err.message[:200]}")
    for k, r in _resources(bundle):
        rtype = r.get("resourceType")
        if rtype not in schema["definitions"] or rtype not in schema["discriminator"]["mapping"]:
            problems.append(f"entry {k}: resourceType {rtype!r} is not a FHIR R4 resource")
            continue
        for err in validator(rtype).iter_errors(r):
            problems.append(f"entry {k} ({rtype}){_path(err)}: {err.message[:200]}")
    return problems


def _path(err):
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)


def _fhir_resources_bundle():
    """fhir.resources' R4B Bundle model. This module is named `fhir` too (the driver
    imports each format's checker by its format's name), so when it is imported as `fhir`
    it lends the installed package's folder as its own `__path__`, and `fhir.resources`
    is found there."""
    import importlib
    import importlib.machinery
    import sys

    me = sys.modules.get("fhir")
    if me is not None and getattr(me, "__file__", None) == __file__:
        here = pathlib.Path(__file__).resolve().parent
        paths = [p for p in sys.path if pathlib.Path(p or ".").resolve() != here]
        spec = importlib.machinery.PathFinder.find_spec("fhir", paths)
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("the fhir.resources package is not installed")
        me.__path__ = list(spec.submodule_search_locations)
    return importlib.import_module("fhir.resources.R4B.bundle").Bundle


def _parse(bundle):
    """fhir.resources' R4B models' complaints."""
    Bundle = _fhir_resources_bundle()

    try:
        Bundle.model_validate(bundle)
    except Exception as e:  # pydantic's ValidationError, or a model's own
        return [f"fhir.resources (R4B) does not read it: {str(e)[:600]}"]
    return []


# --- our own checks -----------------------------------------------------------------------


def _resources(bundle):
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    for k, e in enumerate(entries if isinstance(entries, list) else []):
        r = e.get("resource") if isinstance(e, dict) else None
        if isinstance(r, dict):
            yield k, r


def _check_bundle(bundle, shared):
    if not isinstance(bundle, dict):
        return ["not a JSON object"]
    problems = _validate(bundle, shared) + _parse(bundle)
    if bundle.get("resourceType") != "Bundle":
        problems.append(f"resourceType {bundle.get('resourceType')!r}, not Bundle")
    if bundle.get("type") != "collection":
        problems.append(f"Bundle.type {bundle.get('type')!r}, not collection")
    if not bundle.get("timestamp"):
        problems.append("Bundle.timestamp is missing")
    problems += _check_urls(bundle)
    problems += _death(bundle)
    for k, r in _resources(bundle):
        where = f"entry {k} ({r.get('resourceType')})"
        problems += [f"{where}: {p}" for p in _walk(r, "")]
        if r.get("resourceType") in ("MedicationRequest", "ServiceRequest"):
            if r.get("intent") != "plan":
                problems.append(f"{where}: intent {r.get('intent')!r}, not \"plan\"")
    return problems


def _weights(bundle, rows):
    """Body weights: each Observation is LOINC 29463-7 in UCUM kg, final, dated; the first
    is the roster's; every weight pharmacy.csv's dose rows were computed at (weight_kg) is
    the roster's or one observed on or before the row's date (the record's weight rows)."""
    problems, seen = [], []
    for k, r in _resources(bundle):
        if r.get("resourceType") != "Observation":
            continue
        where = f"entry {k} (Observation)"
        coding = ((r.get("code") or {}).get("coding") or [{}])[0]
        if (coding.get("system"), coding.get("code")) != ("http://loinc.org", "29463-7"):
            problems.append(f"{where}: code {coding.get('code')!r} is not LOINC 29463-7")
        q = r.get("valueQuantity") or {}
        if (q.get("system"), q.get("code")) != (UCUM, "kg"):
            problems.append(f"{where}: valueQuantity code {q.get('code')!r} is not UCUM kg")
        if r.get("status") != "final":
            problems.append(f"{where}: status {r.get('status')!r}, not final")
        date = str(r.get("effectiveDateTime") or "")[:10]
        if not DATE.match(date):
            problems.append(f"{where}: effectiveDateTime {date!r} is not a date")
        seen.append((date, _num(q.get("value"))))
    if not seen:
        return problems + ["no body-weight Observation (the roster's weight)"]
    for row in rows:
        kg = _num(row.get("weight_kg"))
        if kg is None or kg == seen[0][1]:
            continue
        if not any(v == kg and d <= row["date"] for d, v in seen[1:]):
            problems.append(
                f"pharmacy.csv {row['event']} occurrence {row['occurrence']} on {row['date']} "
                f"is at {row['weight_kg']} kg, which no body-weight Observation on or before "
                f"it gives"
            )
    return problems


def _death(bundle):
    """A ResearchSubject off the study for a recorded death (its `urn:dosesim:end` says
    "died") has its Patient's deceasedDateTime equal to the end of its period; a Patient
    dead has such a ResearchSubject."""
    problems = []
    by_url = {e.get("fullUrl"): e.get("resource") for e in bundle.get("entry") or []
              if isinstance(e, dict)}
    died = set()
    for k, r in _resources(bundle):
        if r.get("resourceType") != "ResearchSubject":
            continue
        end = (_ext(r, "urn:dosesim:end") or {}).get("valueString") or ""
        if not end.startswith("died"):
            continue
        url = (r.get("individual") or {}).get("reference")
        died.add(url)
        patient = by_url.get(url) or {}
        want = (r.get("period") or {}).get("end")
        got = patient.get("deceasedDateTime")
        if r.get("status") != "off-study":
            problems.append(f"entry {k} (ResearchSubject): died, status {r.get('status')!r}")
        if got is None or str(got)[:10] != want:
            problems.append(
                f"entry {k} (ResearchSubject): died on {want} (period.end), but its Patient's "
                f"deceasedDateTime is {got!r}"
            )
    for e in bundle.get("entry") or []:
        r = e.get("resource") if isinstance(e, dict) else None
        if isinstance(r, dict) and r.get("resourceType") == "Patient":
            if "deceasedDateTime" in r and e.get("fullUrl") not in died:
                problems.append(
                    "Patient: deceasedDateTime set but no ResearchSubject says the patient died"
                )
    return problems


def _check_urls(bundle):
    """fullUrls unique and made of the ids; every reference resolves to an entry."""
    problems, urls = [], set()
    for k, e in enumerate(bundle.get("entry") or []):
        url = e.get("fullUrl") if isinstance(e, dict) else None
        rid = (e.get("resource") or {}).get("id") if isinstance(e, dict) else None
        if url in urls:
            problems.append(f"entry {k}: fullUrl {url} is used twice")
        urls.add(url)
        if rid is None or not ID.match(str(rid)) or url != f"urn:uuid:{rid}":
            problems.append(f"entry {k}: fullUrl {url!r} is not urn:uuid: and its id {rid!r}")
    for k, r in _resources(bundle):
        for ref in _references(r):
            if ref not in urls:
                problems.append(
                    f"entry {k} ({r.get('resourceType')}): reference {ref!r} "
                    "resolves to no entry of the Bundle"
                )
    return problems


def _references(node):
    if isinstance(node, dict):
        for key, v in node.items():
            if key == "reference" and isinstance(v, str):
                yield v
            else:
                yield from _references(v)
    elif isinstance(node, list):
        for v in node:
            yield from _references(v)


def _walk(node, path):
    """Timing codes and Quantities anywhere in a resource."""
    problems = []
    if isinstance(node, dict):
        for key in ("periodUnit", "durationUnit"):
            if key in node and node[key] not in UNITS_OF_TIME:
                problems.append(f"{path}.{key} {node[key]!r} is not a UnitsOfTime code")
        for key, unit in (("period", "periodUnit"), ("duration", "durationUnit")):
            if key in node and unit not in node and "count" in node:
                problems.append(f"{path}.{key} has no {unit}")
        if isinstance(node.get("event"), list) and isinstance(node.get("repeat"), dict):
            problems += _follows(node["event"], node["repeat"], path)
        for w in node.get("when", []) if isinstance(node.get("when"), list) else []:
            if w not in EVENT_TIMING:
                problems.append(f"{path}.when {w!r} is not an EventTiming code")
        if node.get("system") == UCUM and "value" in node:
            code, unit = node.get("code"), node.get("unit")
            if QUANTITY_UNITS.get(code) != unit:
                problems.append(
                    f"{path}: UCUM quantity code {code!r} with unit {unit!r} is not one of "
                    f"{sorted(QUANTITY_UNITS.items())}"
                )
        for key, v in node.items():
            if v in ({}, [], "", None):
                problems.append(f"{path}.{key} is empty (FHIR allows no empty value)")
            problems += _walk(v, f"{path}.{key}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            problems += _walk(v, f"{path}[{i}]")
    return problems


def _step(start, n, unit):
    """`start` plus `n` UnitsOfTime `unit` (d, wk, mo; months from the first date, a day
    of the month past the month's end falling on its last day); None for another unit."""
    if unit in ("d", "wk"):
        return start + datetime.timedelta(days=n * (7 if unit == "wk" else 1))
    if unit == "mo":
        m = start.month - 1 + n
        y, m = start.year + m // 12, m % 12 + 1
        last = calendar.monthrange(y, m)[1]
        return datetime.date(y, m, min(start.day, last))
    return None


def _follows(events, repeat, path):
    """A Timing with `event` and `repeat.period`: a reader expanding `repeat` from the first
    date must get exactly the dates listed (`count` of them, `period` apart)."""
    if "period" not in repeat:
        return []
    problems = []
    if repeat.get("count") != len(events):
        problems.append(
            f"{path}.repeat.count {repeat.get('count')!r} is not the {len(events)} dates listed"
        )
    try:
        dates = [datetime.date.fromisoformat(str(d)[:10]) for d in events]
        n, unit = int(repeat["period"]), repeat.get("periodUnit")
    except (TypeError, ValueError):
        return problems + [f"{path}: event dates or repeat.period unreadable"]
    for k, d in enumerate(dates):
        want = _step(dates[0], n * k, unit)
        if want != d:
            problems.append(
                f"{path}.event[{k}] {d} is not {n} {unit} x {k} after the first date "
                f"({want}): repeat.period contradicts the dates listed"
            )
    return problems


# --- the round trip -----------------------------------------------------------------------


def _ext(node, url):
    for e in (node or {}).get("extension", []) or []:
        if isinstance(e, dict) and e.get("url") == url:
            return e
    return None


def _amount(q):
    """(value, unit) of a Quantity as pharmacy.csv writes them, or (None, None)."""
    if not isinstance(q, dict) or "value" not in q:
        return None, None
    v = q["value"]
    return _num(v), q.get("unit")


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f


def _component(r):
    """The component id of a request, from its identifier PATIENT/COMPONENT."""
    for i in r.get("identifier") or []:
        value = i.get("value", "")
        if "/" in value:
            return value.rsplit("/", 1)[1]
    return None


def _timing_doses(timing, amount, volume, component, out, where):
    events = timing.get("event") or []
    notes = timing.get("_event") or []
    if len(notes) != len(events):
        out["problems"].append(f"{where}: Timing.event and its _event differ in length")
        return
    for date, note in zip(events, notes):
        occ = (_ext(note, OCCURRENCE) or {}).get("valuePositiveInt")
        value, unit = amount or (None, None)
        if volume:
            value, unit = _amount((_ext(note, VOLUME) or {}).get("valueQuantity"))
        key = (component, occ)
        if key in out["plan"]:
            out["problems"].append(f"{where}: {component} occurrence {occ} is listed twice")
        out["plan"][key] = [date, value, unit, where]


def _read(bundle):
    """The schedule a reader gets back: (component, occurrence) -> [date, amount, unit]
    from the requests, amounts replaced by what was given; and the record's resources."""
    out = {"plan": {}, "given": {}, "missed": {}, "problems": [], "requests": {}}
    by_url = {e.get("fullUrl"): e.get("resource") for e in bundle.get("entry") or []}
    for k, r in _resources(bundle):
        rtype, where = r.get("resourceType"), f"entry {k} ({r.get('resourceType')})"
        if rtype == "MedicationRequest":
            c = _component(r)
            out["requests"][c] = r
            for d in r.get("dosageInstruction") or []:
                q = ((d.get("doseAndRate") or [{}])[0]).get("doseQuantity")
                _timing_doses(d.get("timing") or {}, _amount(q), False, c, out, where)
        elif rtype == "ServiceRequest":
            c = _component(r)
            out["requests"][c] = r
            _timing_doses(r.get("occurrenceTiming") or {}, None, True, c, out, where)
    for k, r in _resources(bundle):
        rtype, where = r.get("resourceType"), f"entry {k} ({r.get('resourceType')})"
        if rtype == "MedicationAdministration":
            req = by_url.get((r.get("request") or {}).get("reference")) or {}
            date, q = r.get("effectiveDateTime"), (r.get("dosage") or {}).get("dose")
        elif rtype == "Procedure":
            refs = r.get("basedOn") or [{}]
            req = by_url.get(refs[0].get("reference")) or {}
            date = r.get("performedDateTime")
            q = (_ext(r, VOLUME) or {}).get("valueQuantity")
        else:
            continue
        occ = (_ext(r, OCCURRENCE) or {}).get("valuePositiveInt")
        key = (_component(req), occ)
        kind = {"completed": "given", "not-done": "missed"}.get(r.get("status"))
        if kind is None:
            out["problems"].append(f"{where}: status {r.get('status')!r}")
            continue
        out[kind][key] = [str(date)[:10], *_amount(q), where, r]
    return out


def _expected(rows):
    """pharmacy.csv's doses: to give or given; given; missed."""
    plan, given, missed = {}, {}, {}
    for row in rows:
        key = (row["event"], int(row["occurrence"]))
        dose = _num(row["dose"]) if row["dose"] else None
        value = [row["date"], dose, row["dose_unit"], row]
        if row["status"] not in ("missed", "cancelled"):
            plan[key] = value
        if row["status"] == "given":
            given[key] = value
        if row["status"] == "missed":
            missed[key] = value
    return plan, given, missed


def _same(got, want, what):
    """Problems where the bundle's (date, amount, unit) differ from pharmacy.csv's."""
    problems = []
    for key in sorted(set(got) | set(want), key=lambda k: (str(k[0]), k[1] or 0)):
        name = f"{what} {key[0]} occurrence {key[1]}"
        if key not in got:
            problems.append(f"{name}: pharmacy.csv has it on {want[key][0]}, the Bundle not")
        elif key not in want:
            problems.append(f"{name} ({got[key][3]}): not in pharmacy.csv")
        else:
            (gd, gv, gu), (wd, wv, wu) = got[key][:3], want[key][:3]
            if gd != wd:
                problems.append(f"{name} ({got[key][3]}): date {gd}, pharmacy.csv {wd}")
            if wv is not None and (gv is None or abs(gv - wv) > 1e-9 * max(1.0, abs(wv))):
                problems.append(f"{name} ({got[key][3]}): amount {gv}, pharmacy.csv {wv}")
            if wv is not None and gu != wu:
                problems.append(f"{name} ({got[key][3]}): unit {gu!r}, pharmacy.csv {wu!r}")
    return problems


def _round_trip(bundle, rows):
    got = _read(bundle)
    plan, given, missed = _expected(rows)
    schedule = {k: list(v) for k, v in got["plan"].items()}
    for key, v in got["given"].items():
        if key in schedule:
            schedule[key][1:3] = v[1:3]
    problems = list(got["problems"])
    problems += _same(schedule, plan, "dose")
    problems += _same(got["given"], given, "given")
    problems += _same({k: [v[0], None, None, v[3]] for k, v in got["missed"].items()},
                      {k: [v[0], None, None, v[3]] for k, v in missed.items()}, "missed")
    problems += _units(got, rows)
    problems += _assumed(got, rows)
    return problems


def _units(got, rows):
    """Each dose's UCUM code is the one of pharmacy.csv's unit."""
    problems = []
    unit_of = {row["event"]: row["dose_unit"] for row in rows if row["dose_unit"]}
    for c, r in got["requests"].items():
        want = DOSE_UNIT_CODES.get(unit_of.get(c))
        for q in _quantities(r):
            if want and q.get("code") != want:
                problems.append(f"request {c}: dose code {q.get('code')!r}, not {want!r}")
    for kind in ("given",):
        for (c, occ), v in got[kind].items():
            want = DOSE_UNIT_CODES.get(unit_of.get(c))
            r = v[4]
            for q in _quantities(r):
                if want and q.get("code") != want:
                    problems.append(
                        f"{v[3]} ({c} occurrence {occ}): dose code {q.get('code')!r}, not {want!r}"
                    )
    return problems


def _quantities(node):
    if isinstance(node, dict):
        if node.get("system") == UCUM and "value" in node:
            yield node
        for v in node.values():
            yield from _quantities(v)
    elif isinstance(node, list):
        for v in node:
            yield from _quantities(v)


def _assumed(got, rows):
    """A request whose doses pharmacy.csv marks assumed carries the assumed extension;
    an instant with the site's offset is marked on its resource."""
    problems = []
    marked = {row["event"] for row in rows if row["assumed"]}
    for c in sorted(marked):
        r = got["requests"].get(c)
        if r is not None and _ext(r, ASSUMED) is None:
            problems.append(f"request {c}: pharmacy.csv marks its doses assumed, the request not")
    for kind in ("given", "missed"):
        for (c, occ), v in got[kind].items():
            r = v[-1]
            at = r.get("effectiveDateTime") or r.get("performedDateTime") or ""
            if "T" in at and _ext(r, ASSUMED) is None:
                problems.append(f"{v[-2]}: the UTC offset of {at} is not marked assumed")
    return problems


# --- breakages ----------------------------------------------------------------------------


def _edit(folder, pick):
    """Applies `pick(bundle)` (True when it changed something) to the first Bundle (by
    name) it changes, and writes it back."""
    for f in sorted(folder.glob("*.json")):
        if f.name == "manifest.json":
            continue
        bundle = json.loads(f.read_text(encoding="utf-8"))
        if pick(bundle):
            f.write_text(json.dumps(bundle, indent=2), encoding="utf-8")
            return
    raise AssertionError("no Bundle to break")


def _first(bundle, rtype, cond=lambda r: True):
    for _, r in _resources(bundle):
        if r.get("resourceType") == rtype and cond(r):
            return r
    return None


def _period_unit_week(folder):
    def pick(b):
        for _, r in _resources(b):
            for t in _timings(r):
                if "periodUnit" in t.get("repeat", {}):
                    t["repeat"]["periodUnit"] = "week"
                    return True
        return False

    _edit(folder, pick)


def _timings(r):
    for d in r.get("dosageInstruction") or []:
        yield d.get("timing") or {}
    if "occurrenceTiming" in r:
        yield r["occurrenceTiming"]


def _period_contradicts_events(folder):
    def pick(b):
        for _, r in _resources(b):
            for t in _timings(r):
                rep = t.get("repeat") or {}
                if "period" in rep and len(t.get("event") or []) >= 2:
                    rep["period"] += 1
                    return True
        return False

    _edit(folder, pick)


def _death_dropped(folder):
    def pick(b):
        r = _first(b, "Patient", lambda r: "deceasedDateTime" in r)
        if r:
            del r["deceasedDateTime"]
        return r is not None

    _edit(folder, pick)


def _recorded_weight_dropped(folder):
    def pick(b):
        entries = b.get("entry") or []
        for i, e in enumerate(entries):
            r = e.get("resource") or {}
            text = (r.get("code") or {}).get("text") or ""
            if r.get("resourceType") == "Observation" and text.startswith("body weight recorded"):
                del entries[i]
                return True
        return False

    _edit(folder, pick)


def _dangling_reference(folder):
    def pick(b):
        r = _first(b, "MedicationAdministration")
        if r:
            r["request"]["reference"] = "urn:uuid:00000000-0000-8000-8000-000000000000"
        return r is not None

    _edit(folder, pick)


def _wrong_unit_code(folder):
    def pick(b):
        r = _first(b, "MedicationRequest", lambda r: list(_quantities(r)))
        if r:
            q = next(_quantities(r))
            q["code"], q["unit"] = "mL", "mL"
        return r is not None

    _edit(folder, pick)


def _no_intent(folder):
    def pick(b):
        r = _first(b, "MedicationRequest")
        if r:
            del r["intent"]
        return r is not None

    _edit(folder, pick)


def _amount_changed(folder):
    def pick(b):
        r = _first(b, "MedicationAdministration", lambda r: r.get("status") == "completed")
        if r:
            r["dosage"]["dose"]["value"] += 1000
        return r is not None

    _edit(folder, pick)


def _invalid_resource_type(folder):
    def pick(b):
        r = _first(b, "Procedure") or _first(b, "Patient")
        r["resourceType"] = "Procedures"
        return True

    _edit(folder, pick)


def _date_moved(folder):
    def pick(b):
        r = _first(b, "MedicationRequest", lambda r: list(_timings(r))[0].get("event"))
        if r:
            t = list(_timings(r))[0]
            t["event"][0] = t["event"][0][:8] + ("28" if t["event"][0][8:] != "28" else "27")
        return r is not None

    _edit(folder, pick)


def _assumed_unmarked(folder):
    def pick(b):
        r = _first(b, "MedicationRequest", lambda r: _ext(r, ASSUMED) is not None)
        if r:
            r["extension"] = [e for e in r["extension"] if e.get("url") != ASSUMED]
            if not r["extension"]:
                del r["extension"]
        return r is not None

    _edit(folder, pick)


def _missed_dropped(folder):
    def pick(b):
        for k, r in _resources(b):
            if r.get("status") == "not-done":
                del b["entry"][k]
                return True
        return False

    _edit(folder, pick)


def _empty_value(folder):
    def pick(b):
        r = _first(b, "Patient")
        r["identifier"][0]["period"] = {}
        return True

    _edit(folder, pick)


BREAKAGES = [
    ("a Timing periodUnit \"week\" (not a UnitsOfTime code)", _period_unit_week),
    ("a Timing's repeat.period contradicting its event dates", _period_contradicts_events),
    ("a dangling reference (an administration's request)", _dangling_reference),
    ("a recorded death left off the Patient (deceasedDateTime)", _death_dropped),
    ("a recorded weight's Observation dropped", _recorded_weight_dropped),
    ("a wrong unit code (a cell dose in mL)", _wrong_unit_code),
    ("a required element removed (MedicationRequest.intent)", _no_intent),
    ("an administration's amount changed", _amount_changed),
    ("an invalid resourceType", _invalid_resource_type),
    ("a request's dose date moved", _date_moved),
    ("an assumed value left unmarked", _assumed_unmarked),
    ("a missed dose dropped", _missed_dropped),
    ("an empty object", _empty_value),
]
