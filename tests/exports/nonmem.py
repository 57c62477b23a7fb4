"""Checks of a `dosesim export nonmem` folder: pharmpy-core reads the event table through
a control stream made of input.txt, checks it (pharmpy.modeling.check_dataset) and
expands its ADDL/II (pharmpy.modeling.expand_additional_doses); the expanded rows must be
exactly pharmacy.csv's rows less the missed and cancelled ones (patient, kind, event,
occurrence, date, amount, given or not). Checks of our own in the NMdata manner beside
it: the columns, TIME ascending within ID, EVID/AMT/MDV/CMT/II/ADDL consistent, ARM and
SITE constant per ID and as ids.csv says, no duplicate rows, ID numeric and one per
patient, no text cell with a blank, comma or quote, DATETIME agreeing with TIME.

check(folder, pharmacy, shared) returns every problem found ([] when the export passes);
BREAKAGES lists deliberate breakages that check() must catch.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import pathlib
import shutil
import tempfile
import warnings
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Callable

COLUMNS = [
    "ID", "TIME", "DATETIME", "EVID", "AMT", "AMTU", "CMT", "II", "ADDL", "MDV", "DV", "WT",
    "ARM", "SITE", "PROC", "VOLML", "EVENT", "OCC", "GIVEN", "ASSUMED",
]
TEXT = {"DATETIME", "AMTU", "EVENT", "ASSUMED"}
# PROC codes and the pharmacy.csv kind each stands for.
KINDS = {0: "cell_infusion", 1: "plasma_exchange", 2: "visit", 3: "background"}
NOT_IN_TABLE = {"missed", "cancelled"}
MAX_PROBLEMS_PER_CHECK = 20


def _table_path(folder: pathlib.Path) -> pathlib.Path | None:
    tables = [p for p in sorted(folder.glob("*.csv")) if p.name not in ("ids.csv", "columns.csv")]
    return tables[0] if len(tables) == 1 else None


def _read_csv(path: pathlib.Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _num(text: str) -> Decimal | None:
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


class _Problems(list):
    """Problems, at most MAX_PROBLEMS_PER_CHECK of one kind (then a count of the rest)."""

    def __init__(self):
        super().__init__()
        self.kinds: Counter = Counter()

    def add(self, kind: str, text: str):
        self.kinds[kind] += 1
        if self.kinds[kind] <= MAX_PROBLEMS_PER_CHECK:
            self.append(text)

    def close(self):
        for kind, n in sorted(self.kinds.items()):
            if n > MAX_PROBLEMS_PER_CHECK:
                self.append(f"... and {n - MAX_PROBLEMS_PER_CHECK} more problems of the kind '{kind}'")


def _check_lines(table: pathlib.Path, p: _Problems) -> list[dict[str, str]] | None:
    """Each record split on commas as NONMEM does: the header, the cell count and text
    cells free of blanks, commas and quotes. The rows as dicts of text, None if unreadable."""
    lines = table.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0].split(",") != COLUMNS:
        p.add("header", f"{table.name}: the header is {lines[0] if lines else '(empty file)'!r}, not {','.join(COLUMNS)}")
        return None
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        if len(cells) != len(COLUMNS):
            p.add("cells", f"{table.name}: row {n} has {len(cells)} cells, not {len(COLUMNS)}")
            continue
        for name, cell in zip(COLUMNS, cells):
            if cell == "" or any(c in cell for c in " \t\"'"):
                p.add("text", f"{table.name}: row {n}, {name}: {cell!r} is empty or holds a blank or quote, which NONMEM would split or misread")
        rows.append(dict(zip(COLUMNS, cells), _line=n))
    return rows


def _check_numbers(name: str, rows: list[dict], p: _Problems) -> list[dict]:
    """The numeric columns as Decimals (rows with an unreadable number left out)."""
    out = []
    for r in rows:
        bad = [c for c in COLUMNS if c not in TEXT and _num(r[c]) is None]
        for c in bad:
            p.add("number", f"{name}: row {r['_line']}, {c}: {r[c]!r} is not a number")
        if not bad:
            out.append({**r, **{c: _num(r[c]) for c in COLUMNS if c not in TEXT}})
    return out


def _check_event_rows(name: str, rows: list[dict], p: _Problems):
    """EVID, AMT, AMTU, CMT, II, ADDL, MDV, PROC and VOLML consistent on each row."""
    for r in rows:
        at = f"{name}: row {r['_line']}"
        if r["MDV"] != 1:
            p.add("mdv", f"{at}, MDV: {r['MDV']} (the table has no observations: 1 on every row)")
        if r["DV"] != 0:
            p.add("dv", f"{at}, DV: {r['DV']} (the table has no observations: 0 on every row)")
        if (r["ADDL"] > 0) != (r["II"] > 0) or r["ADDL"] < 0 or r["ADDL"] != int(r["ADDL"]):
            p.add("addl", f"{at}, ADDL {r['ADDL']} with II {r['II']}: ADDL is a whole number, above 0 exactly when II is")
        if r["EVID"] == 1:
            if r["AMT"] <= 0:
                p.add("amt", f"{at}, AMT: {r['AMT']} on a dose row (EVID 1): a dose needs an amount above 0")
            if r["AMTU"] not in ("cells", "mL"):
                p.add("amtu", f"{at}, AMTU: {r['AMTU']!r} on a dose row: the unit is cells or mL")
            if r["CMT"] < 1 or r["PROC"] != 0:
                p.add("cmt", f"{at}: a dose row needs CMT 1 or more and PROC 0 (CMT {r['CMT']}, PROC {r['PROC']})")
        elif r["EVID"] == 2:
            if r["AMT"] != 0 or r["AMTU"] != "." or r["CMT"] != 0 or r["ADDL"] != 0:
                p.add("evid2", f"{at}: an EVID 2 row has AMT 0, AMTU ., CMT 0 and ADDL 0 (AMT {r['AMT']}, AMTU {r['AMTU']}, CMT {r['CMT']}, ADDL {r['ADDL']})")
            if r["PROC"] not in (1, 2, 3):
                p.add("proc", f"{at}, PROC: {r['PROC']} on an EVID 2 row (1 plasma exchange, 2 visit, 3 background)")
        else:
            p.add("evid", f"{at}, EVID: {r['EVID']} (1 a dose, 2 another event)")
        if (r["PROC"] == 1) != (r["VOLML"] > 0):
            p.add("volml", f"{at}, VOLML: {r['VOLML']} with PROC {r['PROC']}: a plasma exchange has a volume, no other row does")
        if r["GIVEN"] not in (0, 1):
            p.add("given", f"{at}, GIVEN: {r['GIVEN']} (0 or 1)")


def _check_order(name: str, rows: list[dict], p: _Problems):
    """Rows grouped by ID in ascending order, TIME ascending within an ID, no duplicate."""
    seen_ids: list = []
    for prev, r in zip([None] + rows, rows):
        if prev is None or prev["ID"] != r["ID"]:
            if r["ID"] in seen_ids or (seen_ids and r["ID"] < seen_ids[-1]):
                p.add("order", f"{name}: row {r['_line']}: ID {r['ID']} comes out of order (rows are by ID, then TIME)")
            seen_ids.append(r["ID"])
        elif r["TIME"] < prev["TIME"]:
            p.add("order", f"{name}: row {r['_line']}: TIME {r['TIME']} comes after TIME {prev['TIME']} of ID {r['ID']}: not ascending")
    keys = Counter(tuple(r[c] for c in COLUMNS) for r in rows)
    for r in rows:
        if keys[tuple(r[c] for c in COLUMNS)] > 1:
            p.add("duplicate", f"{name}: row {r['_line']} is a duplicate of another row")


def _check_subjects(name: str, rows: list[dict], ids: list[dict], p: _Problems) -> dict:
    """ID numeric and one per patient, ARM and SITE constant per ID and as ids.csv says.
    Returns ID -> ids.csv row."""
    by_id: dict = {}
    patients = Counter(s["patient_id"] for s in ids)
    for s in ids:
        i = _num(s["ID"])
        if i is None or i != int(i) or i < 1 or i in by_id:
            p.add("ids", f"ids.csv: ID {s['ID']!r} (of {s['patient_id']}) is not a whole number above 0 or is not unique")
            continue
        if patients[s["patient_id"]] > 1:
            p.add("ids", f"ids.csv: patient {s['patient_id']} has more than one ID")
        by_id[i] = s
    for r in rows:
        s = by_id.get(r["ID"])
        if s is None:
            p.add("ids", f"{name}: row {r['_line']}: ID {r['ID']} is not in ids.csv")
            continue
        for col in ("ARM", "SITE"):
            if _num(s[col]) != r[col]:
                p.add("covariate", f"{name}: row {r['_line']}, {col}: {r[col]} but ids.csv gives {s[col]} for ID {r['ID']} ({s['patient_id']}): not constant within the ID")
    return by_id


def _zero(subject: dict) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(subject["time_zero"])
    except (KeyError, ValueError):
        return None


def _check_datetime(name: str, rows: list[dict], by_id: dict, p: _Problems):
    """DATETIME is time_zero + TIME: the same date, and the same clock time when it has one."""
    for r in rows:
        zero = _zero(by_id.get(r["ID"], {}))
        if zero is None:
            continue
        at = zero + dt.timedelta(hours=float(r["TIME"]))
        text = r["DATETIME"]
        try:
            stamp = dt.datetime.fromisoformat(text)
        except ValueError:
            p.add("datetime", f"{name}: row {r['_line']}, DATETIME: {text!r} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM")
            continue
        off = abs((at - stamp).total_seconds())
        if ("T" in text and off > 1) or ("T" not in text and at.date() != stamp.date()):
            p.add("datetime", f"{name}: row {r['_line']}: DATETIME {text} but TIME {r['TIME']} from {zero:%Y-%m-%dT%H:%M} gives {at:%Y-%m-%dT%H:%M:%S}")


def _model(folder: pathlib.Path, table: pathlib.Path, work: pathlib.Path):
    """The table read by pharmpy through a control stream made of input.txt, with the
    column types and units set."""
    from pharmpy.basic import Unit
    from pharmpy.modeling import read_model

    shutil.copy(table, work / table.name)
    stream = (
        "$PROBLEM dosesim export nonmem check\n"
        + (folder / "input.txt").read_text(encoding="utf-8")
        + "$PRED\nY = THETA(1) + ETA(1) + EPS(1)\n$THETA 1\n$OMEGA 1\n$SIGMA 1\n"
    )
    (work / "check.mod").write_text(stream, encoding="utf-8")
    model = read_model(work / "check.mod")
    di = model.datainfo
    types = {"ID": "id", "TIME": "idv", "AMT": "dose", "EVID": "event", "MDV": "mdv", "DV": "dv",
             "II": "ii", "ADDL": "additional", "CMT": "compartment", "WT": "covariate"}
    for col, kind in types.items():
        c = di[col]
        var = c.variable.replace(type=kind)
        if col == "WT":
            var = var.set_property("descriptor", "body weight").set_property("unit", Unit("kg"))
        if col == "TIME":
            var = var.set_property("unit", Unit("h"))
        di = di.set_column(c.replace(variable_mapping=var))
    return model.replace(datainfo=di)


def _expanded(model, p: _Problems):
    """pharmpy's dataset checks, then its expansion of ADDL/II with each row's
    occurrence (a run's later doses: one more each)."""
    from pharmpy.modeling import check_dataset, expand_additional_doses

    for _, c in check_dataset(model, dataframe=True).iterrows():
        if c["result"] != "OK":
            p.add("pharmpy", f"pharmpy check_dataset: {c['check']}: {c['violations']}")
    df = expand_additional_doses(model, flag=True).dataset.reset_index(drop=True)
    occ = []
    last: dict = {}
    for _, r in df.iterrows():
        key = (r["ID"], r["EVENT"], r["PROC"])
        o = last[key] + 1 if r["EXPANDED"] and key in last else int(r["OCC"])
        last[key] = o
        occ.append(o)
    return df.assign(OCC=occ)


def _table_schedule(df, by_id: dict) -> Counter:
    """Each row of the expanded table as pharmacy.csv would have it."""
    out: Counter = Counter()
    for _, r in df.iterrows():
        s = by_id.get(Decimal(int(r["ID"])))
        zero = _zero(s or {})
        if zero is None:
            continue
        date = (zero + dt.timedelta(hours=float(r["TIME"]))).date().isoformat()
        proc = int(r["PROC"])
        amount = Decimal(repr(float(r["AMT"]))) if proc == 0 else (Decimal(repr(float(r["VOLML"]))) if proc == 1 else None)
        unit = r["AMTU"] if proc == 0 else ("mL" if proc == 1 else None)
        out[(s["patient_id"], KINDS.get(proc, f"PROC {proc}"), r["EVENT"], int(r["OCC"]), date,
             amount.normalize() if amount is not None else None, unit, int(r["GIVEN"]))] += 1
    return out


def _pharmacy_schedule(pharmacy: pathlib.Path) -> Counter:
    out: Counter = Counter()
    for r in _read_csv(pharmacy):
        if r["status"] in NOT_IN_TABLE:
            continue
        kind = r["kind"]
        amount = {"cell_infusion": r["dose"], "plasma_exchange": r["volume_ml"]}.get(kind)
        unit = {"cell_infusion": r["dose_unit"], "plasma_exchange": "mL"}.get(kind)
        out[(r["patient_id"], kind, r["event"], int(r["occurrence"]), r["date"],
             Decimal(amount).normalize() if amount else None, unit, int(r["status"] == "given"))] += 1
    return out


def _compare(table: Counter, pharmacy: Counter, p: _Problems):
    fields = "patient, kind, event, occurrence, date, amount, unit, given"
    for key in sorted(set(table) | set(pharmacy), key=str):
        a, b = table[key], pharmacy[key]
        if a > b:
            p.add("round trip", f"the expanded table has a row pharmacy.csv lacks ({fields}): {key}" + (f" x{a - b}" if a - b > 1 else ""))
        elif b > a:
            p.add("round trip", f"pharmacy.csv has a row the expanded table lacks ({fields}): {key}" + (f" x{b - a}" if b - a > 1 else ""))


def _check_files(folder: pathlib.Path, p: _Problems) -> pathlib.Path | None:
    table = _table_path(folder)
    if table is None:
        p.add("files", f"{folder}: expected exactly one event table <TRIAL>.csv beside ids.csv and columns.csv")
    for name in ("ids.csv", "columns.csv", "input.txt"):
        if not (folder / name).is_file():
            p.add("files", f"{folder}: {name} is missing")
    if table is not None and (folder / "input.txt").is_file():
        text = (folder / "input.txt").read_text(encoding="utf-8")
        words = text.replace("$INPUT", " ").split("$DATA")[0].split("\n", 1)[-1].split()
        want = [c + "=DROP" if c in TEXT else c for c in COLUMNS]
        if words != want:
            p.add("input", f"input.txt: $INPUT lists {' '.join(words)}, not {' '.join(want)}")
        if f"$DATA {table.name} IGNORE=@" not in text:
            p.add("input", f"input.txt: no '$DATA {table.name} IGNORE=@'")
    if (folder / "columns.csv").is_file():
        names = [r.get("name") for r in _read_csv(folder / "columns.csv")]
        if names != COLUMNS:
            p.add("columns", f"columns.csv: names {names}, not {COLUMNS}")
    return table


def check(folder: pathlib.Path, pharmacy: pathlib.Path, shared: pathlib.Path) -> list[str]:
    folder, pharmacy = pathlib.Path(folder), pathlib.Path(pharmacy)
    p = _Problems()
    table = _check_files(folder, p)
    if table is None or not (folder / "ids.csv").is_file() or not (folder / "input.txt").is_file():
        p.close()
        return list(p)
    text_rows = _check_lines(table, p)
    if text_rows is None:
        p.close()
        return list(p)
    rows = _check_numbers(table.name, text_rows, p)
    _check_event_rows(table.name, rows, p)
    _check_order(table.name, rows, p)
    by_id = _check_subjects(table.name, rows, _read_csv(folder / "ids.csv"), p)
    _check_datetime(table.name, rows, by_id, p)
    if not p:
        # pharmpy reads what the checks above pass; a broken table is said by them.
        with tempfile.TemporaryDirectory() as work, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("pharmpy").setLevel(logging.ERROR)
            try:
                model = _model(folder, table, pathlib.Path(work))
                df = _expanded(model, p)
            except Exception as e:  # pharmpy's own words for a table it cannot read
                p.add("pharmpy", f"{table.name}: pharmpy could not read or expand the table: {type(e).__name__}: {e}")
                df = None
        if df is not None:
            _compare(_table_schedule(df, by_id), _pharmacy_schedule(pharmacy), p)
    p.close()
    return list(p)


# ---- breakages: each mutates a copy of an export folder; check() must then fail ----

def _edit_table(folder: pathlib.Path, edit: Callable[[list[list[str]]], None]):
    table = _table_path(folder)
    lines = table.read_text(encoding="utf-8").rstrip("\n").split("\n")
    rows = [line.split(",") for line in lines[1:]]
    edit(rows)
    table.write_text("\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n", encoding="utf-8")


def _col(name: str) -> int:
    return COLUMNS.index(name)


def _first(rows, pred) -> list[str]:
    return next(r for r in rows if pred(r))


def _unsorted_time(folder):
    def edit(rows):
        # Swap the first two rows of one ID whose TIMEs differ.
        for i in range(len(rows) - 1):
            a, b = rows[i], rows[i + 1]
            if a[0] == b[0] and Decimal(a[1]) < Decimal(b[1]):
                rows[i], rows[i + 1] = b, a
                return
    _edit_table(folder, edit)


def _wrong_unit(folder):
    _edit_table(folder, lambda rows: _first(rows, lambda r: r[_col("EVID")] == "1").__setitem__(_col("AMTU"), "mL"))


def _changed_amount(folder):
    def edit(rows):
        r = _first(rows, lambda r: r[_col("EVID")] == "1")
        r[_col("AMT")] = str(Decimal(r[_col("AMT")]) * 2)
    _edit_table(folder, edit)


def _duplicate_row(folder):
    def edit(rows):
        i = rows.index(_first(rows, lambda r: r[_col("EVID")] == "1"))
        rows.insert(i + 1, list(rows[i]))
    _edit_table(folder, edit)


def _dose_without_amount(folder):
    _edit_table(folder, lambda rows: _first(rows, lambda r: r[_col("EVID")] == "1").__setitem__(_col("AMT"), "0"))


def _addl_past_schedule(folder):
    def edit(rows):
        run = [r for r in rows if r[_col("EVID")] == "1" and r[_col("ADDL")] != "0"]
        r = run[0] if run else _first(rows, lambda r: r[_col("EVID")] == "1")
        if not run:  # an expanded table: make its first dose a run of two a week apart
            r[_col("II")] = "168"
        r[_col("ADDL")] = str(int(r[_col("ADDL")]) + 1)
    _edit_table(folder, edit)


def _missing_dose(folder):
    _edit_table(folder, lambda rows: rows.remove(_first(rows, lambda r: r[_col("EVID")] == "1")))


def _text_with_blank(folder):
    _edit_table(folder, lambda rows: _first(rows, lambda r: r[_col("ASSUMED")] != ".").__setitem__(_col("ASSUMED"), "closed day rule"))


def _arm_changes_within_id(folder):
    def edit(rows):
        r = rows[-1]
        r[_col("ARM")] = str(int(r[_col("ARM")]) % 9 + 1)
    _edit_table(folder, edit)


def _exchange_moved(folder):
    def edit(rows):
        rs = [r for r in rows if r[_col("PROC")] == "1"] or [r for r in rows if r[_col("EVID")] == "2"]
        r = rs[0]
        r[_col("TIME")] = str(Decimal(r[_col("TIME")]) + 24)
        d = dt.date.fromisoformat(r[_col("DATETIME")][:10]) + dt.timedelta(days=1)
        r[_col("DATETIME")] = d.isoformat() + r[_col("DATETIME")][10:]
    _edit_table(folder, edit)


def _weight_of_zero(folder):
    _edit_table(folder, lambda rows: rows[0].__setitem__(_col("WT"), "0"))


def _dropped_column_kept(folder):
    path = folder / "input.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("EVENT=DROP", "EVENT"), encoding="utf-8")


BREAKAGES: list[tuple[str, Callable[[pathlib.Path], None]]] = [
    ("unsorted TIME within an ID", _unsorted_time),
    ("a wrong unit (AMTU mL for a cell dose)", _wrong_unit),
    ("a dose's AMT changed", _changed_amount),
    ("a duplicate row", _duplicate_row),
    ("EVID 1 with AMT 0", _dose_without_amount),
    ("ADDL that expands past the schedule", _addl_past_schedule),
    ("a dose row left out", _missing_dose),
    ("a text cell with a blank", _text_with_blank),
    ("ARM changing within an ID", _arm_changes_within_id),
    ("an EVID 2 row (a plasma exchange where there is one) a day later", _exchange_moved),
    ("a text column not dropped in $INPUT", _dropped_column_kept),
    ("a body weight of 0 kg (pharmpy's check_dataset)", _weight_of_zero),
]
