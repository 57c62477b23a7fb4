"""Checks dosesim's SDTM export (Dataset-JSON v1.1 with a CSV beside each dataset).

    check(folder, pharmacy, shared) -> list of problems ([] when the export passes)
    BREAKAGES: list of (what it breaks, function that breaks a copy of an export folder)

What it checks, for every dataset of DATASETS:
- the .json validates against shared/dataset-json/dataset.schema.json (jsonschema), its
  `records` counts its rows, every row has a value per column of the column's dataType,
  its name, itemGroupOID and DOMAIN (RDOMAIN) say the dataset, the .csv holds the same
  columns and values;
- the Required and Expected variables of SDTMIG v3.4 (CORE, below) are there, and no
  Required one is ever empty;
- every coded value is a term of its codelist in shared/cdisc-ct/codelists.csv, or in
  TERMS_NOT_SHIPPED / TERMS_EXTENDED below (the mirror of the exporter's TERMS table);
- every --DTC is ISO 8601 (a date, or a date and HH:MM[:SS], no time zone) and a real date;
- --SEQ is unique per subject, every subject of a domain is in DM, every SUPPxx row points
  to a row of its parent;
- against pharmacy.csv of the same roster and record: EX holds exactly the cell infusions
  recorded as given (patient, component, occurrence, date, amount), PR exactly the plasma
  exchanges recorded as given (PROCCUR Y) and those recorded as missed (PROCCUR N, no
  volume), EC a SCHEDULED row for every infusion occurrence (its
  planned date and amount) and a PERFORMED row for each given (Y) or missed (N) one; every
  row resting on assumed values has its SUPPxx ASSUMED qualifier naming them, every planned
  per-kg dose its DOSEPKG; DM has every patient, in their arm.
"""

import csv
import datetime
import io
import json
import pathlib
import re

import jsonschema

# The datasets of the export, in the order written.
DATASETS = ["TE", "TA", "TV", "TS", "DM", "SV", "EX", "EC", "PR", "SUPPEX", "SUPPEC", "SUPPPR"]

# SDTMIG v3.4's Required (Req) and Expected (Exp) variables of each dataset, from the
# SDTMIG v3.4 variable metadata (Variables.csv, column "Core") as shipped by the open-source
# Trial-Submission-Studio (crates/tss-standards/data/sdtm/ig/v3.4/Variables.csv); the
# SUPPxx datasets follow SUPPQUAL. Permissible variables are not listed.
CORE = {
    "TA": {"Req": "STUDYID DOMAIN ARMCD ARM TAETORD ETCD EPOCH", "Exp": "TABRANCH TATRANS"},
    "TE": {"Req": "STUDYID DOMAIN ETCD ELEMENT TESTRL", "Exp": ""},
    "TV": {"Req": "STUDYID DOMAIN VISITNUM VISIT TVSTRL", "Exp": "ARMCD"},
    "TS": {"Req": "STUDYID DOMAIN TSSEQ TSPARMCD TSPARM", "Exp": "TSVAL TSVALCD TSVCDREF TSVCDVER"},
    "DM": {
        "Req": "STUDYID DOMAIN USUBJID SUBJID SITEID SEX COUNTRY",
        "Exp": "RFSTDTC RFENDTC RFXSTDTC RFXENDTC RFICDTC RFPENDTC DTHDTC DTHFL AGE AGEU RACE "
        "ARMCD ARM ACTARMCD ACTARM ARMNRS ACTARMUD",
    },
    "SV": {"Req": "STUDYID DOMAIN USUBJID VISITNUM", "Exp": "SVPRESP SVOCCUR SVSTDTC SVENDTC"},
    "EX": {
        "Req": "STUDYID DOMAIN USUBJID EXSEQ EXTRT",
        "Exp": "EXDOSE EXDOSU EXDOSFRM EXSTDTC EXENDTC",
    },
    "EC": {
        "Req": "STUDYID DOMAIN USUBJID ECSEQ ECTRT",
        "Exp": "ECDOSE ECDOSU ECDOSFRM ECSTDTC ECENDTC",
    },
    "PR": {"Req": "STUDYID DOMAIN USUBJID PRSEQ PRTRT", "Exp": "PRSTDTC"},
    "SUPPQUAL": {"Req": "STUDYID RDOMAIN USUBJID QNAM QLABEL QVAL QORIG", "Exp": "IDVAR IDVARVAL QEVAL"},
}

# The codelist of each coded variable (the TS values are by parameter: TS_CODED).
CODED = {
    "EXDOSU": "UNIT", "ECDOSU": "UNIT", "PRDOSU": "UNIT",
    "EXROUTE": "ROUTE", "ECROUTE": "ROUTE",
    "EXDOSFRM": "FRM", "ECDOSFRM": "FRM",
    "EXDOSFRQ": "FREQ", "ECDOSFRQ": "FREQ", "PRDOSFRQ": "FREQ",
    "ECPRESP": "NY", "ECOCCUR": "NY", "PRPRESP": "NY", "PROCCUR": "NY", "SVPRESP": "NY", "SVOCCUR": "NY", "DTHFL": "NY",
    "SEX": "SEX", "EPOCH": "EPOCH", "ARMNRS": "ARMNULRS",
}
TS_CODED = {"ROUTE": "ROUTE", "DOSU": "UNIT", "DOSFRQ": "FREQ"}

# Terms of CDISC codelists that the shipped package (a SEND package) does not hold: SDTM-only
# codelists. Mirror of the exporter's TERMS (src/exchange/sdtm/mod.rs, Source::NotShipped).
TERMS_NOT_SHIPPED = {
    "EPOCH": {"TREATMENT", "FOLLOW-UP"},
    "ARMNULRS": {"ASSIGNED, NOT TREATED"},
}
# Terms we add to an extensible codelist, with the reason. Mirror of Source::Extended.
TERMS_EXTENDED = {
    ("FREQ", "EVERY 24 WEEKS"): "FREQ has EVERY n WEEKS up to 16 weeks; NCT05106972 doses "
    "every 24 weeks, which no term says (Q6M is calendar months)",
}

ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(T(\d{2}):(\d{2})(:(\d{2}))?)?$")


def core(name):
    c = CORE["SUPPQUAL" if name.startswith("SUPP") else name]
    return c["Req"].split(), c["Exp"].split()


def read_codelists(shared):
    terms = {}
    with open(shared / "cdisc-ct" / "codelists.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            terms.setdefault(r["codelist"], {})[r["submission_value"]] = r["code"]
    return terms


def load(folder, name):
    """The dataset's JSON and CSV rows (header first), or a problem."""
    stem = name.lower()
    try:
        doc = json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return None, None, f"{stem}.json: cannot be read as JSON ({e})"
    try:
        with open(folder / f"{stem}.csv", newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        return doc, None, f"{stem}.csv: cannot be read ({e})"
    return doc, rows, None


def plain(v):
    """A JSON value as the CSV writes it."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class Table:
    """A dataset's rows as dicts by variable name (values as in the JSON)."""

    def __init__(self, name, doc):
        self.name = name
        self.file = f"{name.lower()}.json"
        self.names = [c.get("name") for c in doc.get("columns", []) if isinstance(c, dict)]
        rows = doc.get("rows", [])
        self.rows = [dict(zip(self.names, r)) for r in rows if isinstance(r, list)]


def structure(name, doc, csv_rows, validator):
    out = []
    file = f"{name.lower()}.json"
    for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))[:5]:
        where = "/".join(str(p) for p in e.absolute_path) or "top level"
        out.append(f"{file}: does not validate against dataset.schema.json at {where}: {e.message[:200]}")
    if not isinstance(doc, dict):
        return out
    cols = [c for c in doc.get("columns", []) if isinstance(c, dict)]
    rows = doc.get("rows", [])
    if doc.get("records") != len(rows):
        out.append(f"{file}: records says {doc.get('records')} but rows holds {len(rows)}")
    if doc.get("name") != name or doc.get("itemGroupOID") != f"IG.{name}":
        out.append(f"{file}: name/itemGroupOID are {doc.get('name')}/{doc.get('itemGroupOID')}, not {name}/IG.{name}")
    for c in cols:
        # SDTM's limits: a variable name of at most 8 characters, a label of at most 40.
        if len(str(c.get("name"))) > 8 or len(str(c.get("label"))) > 40:
            out.append(f"{file}: column {c.get('name')}: a name over 8 or a label over 40 characters")
        if c.get("itemOID") != f"IT.{name}.{c.get('name')}":
            out.append(f"{file}: column {c.get('name')}: itemOID {c.get('itemOID')} is not IT.{name}.{c.get('name')}")
    for i, r in enumerate(rows, 1):
        if not isinstance(r, list) or len(r) != len(cols):
            out.append(f"{file}: row {i} has {len(r) if isinstance(r, list) else '?'} values for {len(cols)} columns")
            continue
        for c, v in zip(cols, r):
            t = c.get("dataType")
            # A missing value: blank in a text column, null in a numeric one (an empty
            # string is no number).
            ok = (v == "" and t == "string") or (v is None and t != "string") or (
                (t == "string" and isinstance(v, str))
                or (t == "integer" and isinstance(v, int) and not isinstance(v, bool))
                or (t in ("double", "float", "decimal") and isinstance(v, (int, float)) and not isinstance(v, bool))
            )
            if not ok:
                out.append(f"{file}: row {i}, {c.get('name')}: {v!r} is not of its dataType {t}")
    if csv_rows is not None:
        out += same_as_csv(name, cols, rows, csv_rows)
    return out


def same_as_csv(name, cols, rows, csv_rows):
    out = []
    file = f"{name.lower()}.csv"
    header = [c.get("name") for c in cols]
    if not csv_rows or csv_rows[0] != header:
        return [f"{file}: the header is not the JSON's columns {header}"]
    if len(csv_rows) - 1 != len(rows):
        return [f"{file}: {len(csv_rows) - 1} rows, the JSON has {len(rows)}"]
    for i, (a, b) in enumerate(zip(rows, csv_rows[1:]), 1):
        if isinstance(a, list) and [plain(v) for v in a] != b:
            diff = [h for h, x, y in zip(header, a, b) if plain(x) != y]
            out.append(f"{file}: row {i} differs from the JSON's in {', '.join(diff) or 'length'}")
    return out


def variables(t, terms, study):
    out = []
    req, exp = core(t.name)
    for v in req + exp:
        if v not in t.names:
            kind = "Required" if v in req else "Expected"
            out.append(f"{t.file}: the {kind} variable {v} is missing")
    for i, r in enumerate(t.rows, 1):
        for v in req:
            if v in r and r[v] in ("", None):
                out.append(f"{t.file}: row {i}: the Required variable {v} is empty")
        if t.name.startswith("SUPP") and (len(str(r.get("QNAM"))) > 8 or len(str(r.get("QLABEL"))) > 40):
            out.append(f"{t.file}: row {i}: QNAM over 8 or QLABEL over 40 characters")
        dom = "RDOMAIN" if t.name.startswith("SUPP") else "DOMAIN"
        want = t.name[4:] if t.name.startswith("SUPP") else t.name
        if r.get(dom) not in (want, None):
            out.append(f"{t.file}: row {i}: {dom} is {r.get(dom)!r}, not {want}")
        if r.get("STUDYID") not in (study, None):
            out.append(f"{t.file}: row {i}: STUDYID is {r.get('STUDYID')!r}, not {study}")
        for v, val in r.items():
            if v.endswith("DTC") and val != "" and not iso(val):
                out.append(f"{t.file}: row {i}: {v} {val!r} is not an ISO 8601 date or date and time")
            lst = CODED.get(v) or (TS_CODED.get(r.get("TSPARMCD")) if v == "TSVAL" and t.name == "TS" else None)
            if lst and val != "" and not coded(lst, val, terms):
                out.append(f"{t.file}: row {i}: {v} {val!r} is not a term of {lst} (nor a listed extension)")
            if v == "TSVALCD" and val != "" and lst and terms.get(lst, {}).get(r.get("TSVAL")) != val:
                out.append(f"{t.file}: row {i}: TSVALCD {val!r} is not the code of {lst} {r.get('TSVAL')!r}")
    return out


def iso(s):
    m = ISO.match(s) if isinstance(s, str) else None
    if not m:
        return False
    try:
        datetime.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[5] or 0), int(m[6] or 0), int(m[8] or 0))
    except ValueError:
        return False
    return True


def coded(lst, val, terms):
    return (
        val in terms.get(lst, {})
        or val in TERMS_NOT_SHIPPED.get(lst, set())
        or (lst, val) in TERMS_EXTENDED
    )


def identities(tables):
    out = []
    dm = tables.get("DM")
    subjects = {r.get("USUBJID") for r in dm.rows} if dm else set()
    for name, t in tables.items():
        seq = f"{name}SEQ" if len(name) == 2 else None
        seen = set()
        for i, r in enumerate(t.rows, 1):
            if "USUBJID" in r and name != "DM" and r["USUBJID"] not in subjects:
                out.append(f"{t.file}: row {i}: USUBJID {r['USUBJID']!r} is not in dm.json")
            if seq and seq in r:
                # TSSEQ numbers the values of one parameter; --SEQ the rows of one subject.
                who = r.get("TSPARMCD") if name == "TS" else r.get("USUBJID")
                k = (who, r[seq])
                if k in seen:
                    out.append(f"{t.file}: row {i}: {seq} {r[seq]} repeats for {who}")
                seen.add(k)
        if name.startswith("SUPP") and name[4:] in tables:
            parent = tables[name[4:]]
            keys = {(r.get("USUBJID"), str(r.get(f"{name[4:]}SEQ"))) for r in parent.rows}
            for i, r in enumerate(t.rows, 1):
                if r.get("IDVAR") != f"{name[4:]}SEQ" or (r.get("USUBJID"), r.get("IDVARVAL")) not in keys:
                    out.append(f"{t.file}: row {i}: {r.get('IDVAR')} {r.get('IDVARVAL')} of {r.get('USUBJID')} is no row of {parent.file}")
    return out


def read_pharmacy(pharmacy):
    with open(pharmacy, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def num(s):
    return float(s) if s not in ("", None) else None


def exposure(tables, pharmacy, study, as_of=None):
    """EX, PR and EC against pharmacy.csv, by (patient, component, occurrence)."""
    rows = read_pharmacy(pharmacy)
    out = []
    key = lambda p: (f"{study}-{p['patient_id']}", f"{p['event']}-{p['occurrence']}")
    infusions = [p for p in rows if p["kind"] == "cell_infusion"]
    exchanges = [p for p in rows if p["kind"] == "plasma_exchange"]
    for dom, src in (("EX", infusions), ("PR", exchanges)):
        if dom not in tables:
            continue
        want = {key(p): (p["date"], num(p["dose"])) for p in src if p["status"] == "given"}
        have = {}
        for r in tables[dom].rows:
            if dom == "PR" and r.get("PROCCUR") != "Y":
                continue
            have[(r.get("USUBJID"), r.get(f"{dom}LNKID"))] = (str(r.get(f"{dom}STDTC", ""))[:10], num(r.get(f"{dom}DOSE")))
        out += compare(f"{dom.lower()}.json", "recorded as given in pharmacy.csv", want, have)
    if "PR" in tables:
        out += not_done(tables, exchanges, key)
    if "EX" in tables:
        out += adjusted(tables["EX"].rows, infusions, key)
    if "EC" in tables:
        ec = tables["EC"].rows
        sched = {(r.get("USUBJID"), r.get("ECLNKID")): (str(r.get("ECSTDTC", ""))[:10], num(r.get("ECDOSE"))) for r in ec if r.get("ECMOOD") == "SCHEDULED"}
        # SCHEDULED is the regimen's plan: pharmacy.csv's planned_date (before a site calendar
        # or the record moved it) and planned dose (planned_amount once recorded, else dose).
        want = {key(p): (p["planned_date"], num(p["planned_amount"]) if p["planned_amount"] else num(p["dose"])) for p in infusions}
        out += compare("ec.json SCHEDULED", "an infusion of pharmacy.csv", want, sched)
        perf = {(r.get("USUBJID"), r.get("ECLNKID")): (str(r.get("ECSTDTC", ""))[:10], r.get("ECOCCUR")) for r in ec if r.get("ECMOOD") == "PERFORMED"}
        occur = {"given": "Y", "missed": "N"}
        want = {key(p): (p["date"], occur[p["status"]]) for p in infusions if p["status"] in occur}
        out += compare("ec.json PERFORMED", "recorded as given or missed in pharmacy.csv", want, perf)
    out += assumed_marks(tables, rows, study)
    out += per_kg(tables, rows, study)
    out += subjects(tables, rows, study, as_of)
    return out


def adjusted(ex, infusions, key):
    """Every EX row whose amount differs from pharmacy.csv's planned_amount says why (EXADJ),
    inside the dose tolerance too."""
    out = []
    planned = {key(p): num(p["planned_amount"]) for p in infusions if p["status"] == "given"}
    for i, r in enumerate(ex, 1):
        k = (r.get("USUBJID"), r.get("EXLNKID"))
        p, d = planned.get(k), num(r.get("EXDOSE"))
        if p is not None and d is not None and d != p and r.get("EXADJ") in ("", None):
            out.append(f"ex.json: row {i} ({k[0]} {k[1]}): EXDOSE {r.get('EXDOSE')} is not the planned {p:.0f} and EXADJ is empty")
    return out


def not_done(tables, exchanges, key):
    """PR's rows not done (PRPRESP Y, PROCCUR N, no dose) are pharmacy.csv's missed plasma
    exchanges, each with its record's note (if any) as SUPPPR's REASOC."""
    out = []
    pr = tables["PR"].rows
    for i, r in enumerate(pr, 1):
        if r.get("PROCCUR") not in ("Y", "N") or r.get("PRPRESP") != "Y":
            out.append(f"pr.json: row {i}: PRPRESP {r.get('PRPRESP')!r}, PROCCUR {r.get('PROCCUR')!r} (want Y, and Y or N)")
        if r.get("PROCCUR") == "N" and r.get("PRDOSE") not in ("", None):
            out.append(f"pr.json: row {i}: an exchange not done has a volume {r.get('PRDOSE')!r}")
    want = {key(p): (p["date"], None) for p in exchanges if p["status"] == "missed"}
    have = {(r.get("USUBJID"), r.get("PRLNKID")): (str(r.get("PRSTDTC", ""))[:10], None) for r in pr if r.get("PROCCUR") == "N"}
    out += compare("pr.json (PROCCUR N)", "recorded as missed in pharmacy.csv", want, have)
    return out


def armcd(arm_id):
    """The exporter's ARMCD of an arm id: upper case, anything but A-Z, 0-9 and _ as _."""
    return re.sub(r"[^A-Z0-9_]", "_", arm_id.upper())[:20]


def subjects(tables, rows, study, as_of):
    """DM: one row per patient of pharmacy.csv, in their arm."""
    if "DM" not in tables:
        return []
    out = []
    want = {f"{study}-{p['patient_id']}": armcd(p["arm_id"]) for p in rows}
    have = {r.get("USUBJID"): r.get("ARMCD") for r in tables["DM"].rows}
    for k in sorted(set(want) - set(have)):
        out.append(f"dm.json: no row for {k}, a patient of pharmacy.csv")
    for k in sorted(set(have) - set(want)):
        out.append(f"dm.json: {k} is no patient of pharmacy.csv")
    for k in sorted(set(want) & set(have)):
        if want[k] != have[k]:
            out.append(f"dm.json: {k}: ARMCD {have[k]!r}, pharmacy.csv's arm is {want[k]!r}")
    return out + actual_arms(tables["DM"], rows, study, as_of)


def starts(rows):
    """Each patient's day 1, from any pharmacy row's date and study_day (no day 0)."""
    out = {}
    for p in rows:
        if p["study_day"] and p["patient_id"] not in out:
            day = int(p["study_day"])
            back = day - 1 if day > 0 else day
            out[p["patient_id"]] = datetime.date.fromisoformat(p["date"]) - datetime.timedelta(days=back)
    return out


def actual_arms(dm, rows, study, as_of):
    """ACTARMCD/ACTARM/ARMNRS say only what the record says: with no record (no as-of date in
    manifest.json) all empty; with one, a patient starting after its as-of date all empty, one
    with a dose given (or in an arm with no doses) in the planned arm, else "ASSIGNED, NOT
    TREATED"."""
    out = []
    begin = starts(rows)
    doses = ("cell_infusion", "plasma_exchange")
    for r in dm.rows:
        pid = str(r.get("USUBJID", ""))[len(study) + 1 :]
        mine = [p for p in rows if p["patient_id"] == pid]
        given = any(p["kind"] in doses and p["status"] == "given" for p in mine)
        no_doses = not any(p["kind"] in doses for p in mine)
        if as_of is None or pid not in begin or begin[pid] > as_of:
            want = ("", "", "")
        elif given or no_doses:
            want = (armcd(mine[0]["arm_id"]), r.get("ARM"), "")
        else:
            want = ("", "", "ASSIGNED, NOT TREATED")
        have = (r.get("ACTARMCD"), r.get("ACTARM"), r.get("ARMNRS"))
        if have != want:
            why = "no record" if as_of is None else f"the record as of {as_of}"
            out.append(f"dm.json: {r.get('USUBJID')}: ACTARMCD, ACTARM, ARMNRS are {have}, {why} says {want}")
    return out


def record_as_of(folder):
    """The record's as-of date from manifest.json's inputs, None when there is no record."""
    try:
        doc = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for i in doc.get("inputs", []):
        if isinstance(i, dict) and i.get("as_of"):
            return datetime.date.fromisoformat(i["as_of"])
    return None


def per_kg(tables, rows, study):
    """SUPPEC's DOSEPKG of a SCHEDULED row is pharmacy.csv's dose_per_kg (cells/kg)."""
    if "EC" not in tables or "SUPPEC" not in tables:
        return []
    out = []
    want = {(f"{study}-{p['patient_id']}", f"{p['event']}-{p['occurrence']}"): p["dose_per_kg"] for p in rows if p["kind"] == "cell_infusion"}
    supp = {(r.get("USUBJID"), r.get("IDVARVAL")): r.get("QVAL") for r in tables["SUPPEC"].rows if r.get("QNAM") == "DOSEPKG"}
    dose_assumed = {(f"{study}-{p['patient_id']}", f"{p['event']}-{p['occurrence']}") for p in rows if "dose" in (p["assumed"] or "").split("; ")}
    origin = {(r.get("USUBJID"), r.get("IDVARVAL")): r.get("QORIG") for r in tables["SUPPEC"].rows if r.get("QNAM") == "DOSEPKG"}
    for r in tables["EC"].rows:
        if r.get("ECMOOD") != "SCHEDULED":
            continue
        k = (r.get("USUBJID"), r.get("ECLNKID"))
        got = supp.get((r.get("USUBJID"), str(r.get("ECSEQ"))), "")
        if k in want and num(want[k]) != num(got):
            out.append(f"suppec.json: {k[0]} {k[1]}: DOSEPKG {got!r}, pharmacy.csv's dose_per_kg is {want[k]!r}")
        # An assumed dose is ours ("Assigned"), any other planned dose the protocol's.
        o = origin.get((r.get("USUBJID"), str(r.get("ECSEQ"))))
        w = "Assigned" if k in dose_assumed else "Protocol"
        if o is not None and o != w:
            out.append(f"suppec.json: {k[0]} {k[1]}: DOSEPKG's QORIG is {o!r}, not {w!r} (pharmacy.csv's assumed: {'dose' if k in dose_assumed else 'not the dose'})")
    return out


def compare(file, what, want, have):
    out = []
    for k in sorted(set(want) - set(have)):
        out.append(f"{file}: no row for {k[0]} {k[1]}, {what} on {want[k][0]}")
    for k in sorted(set(have) - set(want)):
        out.append(f"{file}: the row of {k[0]} {k[1]} ({have[k][0]}) is not {what}")
    for k in sorted(set(want) & set(have)):
        if want[k] != have[k]:
            out.append(f"{file}: {k[0]} {k[1]} is {have[k]}, pharmacy.csv says {want[k]}")
    return out


def assumed_marks(tables, rows, study):
    """Every EX/EC SCHEDULED/PR row whose pharmacy row rests on assumed values has an ASSUMED
    qualifier naming them (a running total's earlier doses aside)."""
    out = []
    marks = {}
    for p in rows:
        names = [n for n in (p["assumed"] or "").split("; ") if n and n != "earlier dose in total"]
        marks[(f"{study}-{p['patient_id']}", f"{p['event']}-{p['occurrence']}")] = "; ".join(names)
    for dom in ("EX", "EC", "PR"):
        if dom not in tables or f"SUPP{dom}" not in tables:
            continue
        supp = {(r.get("USUBJID"), r.get("IDVARVAL")): r.get("QVAL") for r in tables[f"SUPP{dom}"].rows if r.get("QNAM") == "ASSUMED"}
        for r in tables[dom].rows:
            if dom == "EC" and r.get("ECMOOD") != "SCHEDULED":
                continue
            k = (r.get("USUBJID"), r.get(f"{dom}LNKID"))
            want = marks.get(k, "")
            got = supp.get((r.get("USUBJID"), str(r.get(f"{dom}SEQ"))), "")
            if want != got:
                out.append(f"supp{dom.lower()}.json: {k[0]} {k[1]} ({dom}SEQ {r.get(f'{dom}SEQ')}): ASSUMED is {got!r}, pharmacy.csv's assumed says {want!r}")
    return out


def check(folder, pharmacy, shared):
    folder, shared = pathlib.Path(folder), pathlib.Path(shared)
    schema = json.loads((shared / "dataset-json" / "dataset.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft201909Validator(schema)
    terms = read_codelists(shared)
    problems, tables = [], {}
    study = None
    for name in DATASETS:
        doc, csv_rows, problem = load(folder, name)
        if problem:
            problems.append(problem)
            if doc is None:
                continue
        problems += structure(name, doc, csv_rows, validator)
        if isinstance(doc, dict):
            study = study or doc.get("studyOID")
            tables[name] = Table(name, doc)
    for t in tables.values():
        problems += variables(t, terms, study)
    problems += identities(tables)
    problems += exposure(tables, pharmacy, study, record_as_of(folder))
    return problems


# --- deliberate breakages -------------------------------------------------------------


def edit(folder, name, fn):
    """Applies fn(columns, rows) to a dataset and writes its JSON and CSV again."""
    stem = name.lower()
    path = folder / f"{stem}.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    fn(doc["columns"], doc["rows"])
    doc["records"] = len(doc["rows"])
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c["name"] for c in doc["columns"]])
    for r in doc["rows"]:
        w.writerow([plain(v) for v in r])
    (folder / f"{stem}.csv").write_text(buf.getvalue(), encoding="utf-8")


def set_value(folder, name, var, value, row=0):
    def fn(cols, rows):
        i = [c["name"] for c in cols].index(var)
        rows[row][i] = value

    edit(folder, name, fn)


def drop_column(folder, name, var):
    def fn(cols, rows):
        i = [c["name"] for c in cols].index(var)
        del cols[i]
        for r in rows:
            del r[i]

    edit(folder, name, fn)


def drop_row(folder, name, row=-1):
    edit(folder, name, lambda cols, rows: rows.pop(row))


def break_schema(folder):
    path = folder / "ex.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["datasetJSONVersion"] = "2.0"
    doc["columns"][0]["dataType"] = "text"
    path.write_text(json.dumps(doc), encoding="utf-8")


def csv_only(folder):
    path = folder / "ec.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace("SCHEDULED", "PERFORMED", 1)
    path.write_text("".join(lines), encoding="utf-8")


def scheduled_a_day_early(folder):
    """The first EC SCHEDULED row dated a day before its planned date (as a dose given early
    in its window would have it if SCHEDULED took the date given)."""

    def fn(cols, rows):
        names = [c["name"] for c in cols]
        mood, dtc = names.index("ECMOOD"), names.index("ECSTDTC")
        r = next(r for r in rows if r[mood] == "SCHEDULED")
        d = datetime.date.fromisoformat(r[dtc][:10]) - datetime.timedelta(days=1)
        r[dtc] = d.isoformat() + r[dtc][10:]

    edit(folder, "EC", fn)


def toggle_not_treated(folder):
    """DM's first row says "ASSIGNED, NOT TREATED" where it said nothing, or nothing where it
    said it (as the export did for every patient of a plan with no record)."""

    def fn(cols, rows):
        i = [c["name"] for c in cols].index("ARMNRS")
        rows[0][i] = "" if rows[0][i] else "ASSIGNED, NOT TREATED"

    edit(folder, "DM", fn)


def flip_dose_origin(folder):
    """The first DOSEPKG qualifier of SUPPEC says the other origin ("Protocol" for an assumed
    dose, "Assigned" for the protocol's)."""

    def fn(cols, rows):
        names = [c["name"] for c in cols]
        q, o = names.index("QNAM"), names.index("QORIG")
        r = next(r for r in rows if r[q] == "DOSEPKG")
        r[o] = "Protocol" if r[o] == "Assigned" else "Assigned"

    edit(folder, "SUPPEC", fn)


def drop_not_done(folder):
    """PR's rows of exchanges not done (PROCCUR N) removed, as the export once left them out."""

    def fn(cols, rows):
        i = [c["name"] for c in cols].index("PROCCUR")
        rows[:] = [r for r in rows if r[i] != "N"]

    edit(folder, "PR", fn)


def clear_adjustments(folder):
    """Every EXADJ emptied."""

    def fn(cols, rows):
        i = [c["name"] for c in cols].index("EXADJ")
        for r in rows:
            r[i] = ""

    edit(folder, "EX", fn)


def drop_assumed(folder):
    edit(folder, "SUPPEC", lambda cols, rows: rows.__setitem__(slice(None), [r for r in rows if r[5] != "ASSUMED"]))


def blank_number(folder):
    """A missing number written as an empty string (DM's AGE, null in every row)."""
    set_value(folder, "DM", "AGE", "")


BREAKAGES = [
    ("a missing number as an empty string: DM's AGE \"\"", blank_number),
    ("a wrong unit: EXDOSU \"cells\"", lambda f: set_value(f, "EX", "EXDOSU", "cells")),
    ("a missing Required variable: USUBJID dropped from EX", lambda f: drop_column(f, "EX", "USUBJID")),
    ("a Required value emptied: DM's SITEID", lambda f: set_value(f, "DM", "SITEID", "")),
    ("a bad date: EXSTDTC 2026-02-30", lambda f: set_value(f, "EX", "EXSTDTC", "2026-02-30")),
    ("a date not ISO 8601: ECSTDTC 03/09/2026", lambda f: set_value(f, "EC", "ECSTDTC", "03/09/2026")),
    ("an EX row removed", lambda f: drop_row(f, "EX")),
    ("a PR row removed", lambda f: drop_row(f, "PR", 0)),
    ("a missed plasma exchange left out of PR", drop_not_done),
    ("an EC SCHEDULED row removed", lambda f: drop_row(f, "EC", 0)),
    ("a dose changed: EXDOSE 1", lambda f: set_value(f, "EX", "EXDOSE", 1)),
    ("every EXADJ emptied", clear_adjustments),
    ("a schema violation: datasetJSONVersion 2.0, a dataType \"text\"", break_schema),
    ("a route not in ROUTE: EXROUTE \"IV\"", lambda f: set_value(f, "EX", "EXROUTE", "IV")),
    ("an EPOCH not in EPOCH: \"TREATMENT PHASE\"", lambda f: set_value(f, "TA", "EPOCH", "TREATMENT PHASE")),
    ("the CSV differs from the JSON (ec.csv only)", csv_only),
    ("an Expected variable dropped: EXDOSFRM", lambda f: drop_column(f, "EX", "EXDOSFRM")),
    ("the assumed-value marks dropped from SUPPEC", drop_assumed),
    ("an EC SCHEDULED row a day before its planned_date", scheduled_a_day_early),
    ("the origin of a planned dose per kg flipped (SUPPEC DOSEPKG QORIG)", flip_dose_origin),
    ("a subject not in DM: a DM row removed", lambda f: drop_row(f, "DM", 1)),
    ("a patient in another arm: DM's ARMCD", lambda f: set_value(f, "DM", "ARMCD", "PE")),
    ("DM's ARMNRS \"ASSIGNED, NOT TREATED\" toggled on its first row", toggle_not_treated),
]
