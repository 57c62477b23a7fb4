#!/usr/bin/env python3
"""Checks dosesim's calendar files against a real CalDAV server (run by check.sh).

For each trial folder of a `dosesim cohort --out DIR` run, and for the trial's
`calendar.ics` and each `sites/<SITE>.ics`:

1. the file itself, parsed with the icalendar package, holds exactly the events of
   pharmacy.csv (every row but kind=background; for a site file, the rows of that site),
   each as one all-day VEVENT: UID `{trial_id}-{patient_id}-{event}-{occurrence}@dosesim`,
   DTSTART the row's date, DTEND the next day, STATUS:CANCELLED where the row's status is
   cancelled or missed; and each VEVENT is byte for byte the one of the patient's
   patients/<PATIENT>.ics;
2. a calendar collection is made on the server (MKCALENDAR) and the file is imported into
   it: by default as one PUT of the whole VCALENDAR to the collection's URL, the file's
   bytes as dosesim wrote them, which Radicale splits into one resource per UID
   (`--import each` PUTs every VEVENT as its own `<uid>.ics` instead, as a calendar app's
   import does);
3. a calendar-query REPORT without a time-range gives back every event (nothing dropped or
   merged on import), one with a VEVENT time-range [START, END) gives back exactly the
   rows dated START <= date < END, a short range [A, B) with events on the day before A
   and on B gives back exactly its own events (an all-day event that ends at A or starts
   at B does not overlap it), and one hour inside A gives back all of A's events.

What is compared is the set of (UID, DTSTART date) and, separately, which of them are
STATUS:CANCELLED. Only the standard library and icalendar are used. Prints one line per
check and ends with `caldav: N passed, N failed`; exits 1 on any mismatch.
"""

import argparse
import csv
import datetime as dt
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import icalendar

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
# The pharmacy.csv statuses whose events carry STATUS:CANCELLED (still in the file, dated).
CANCELLED_STATUSES = {"cancelled", "missed"}
# The collection every trial's and site's calendar is made under (Radicale needs the parent).
ROOT = "/dosesim/"
ONE_DAY = dt.timedelta(days=1)


class Mismatch(Exception):
    """A check failed; the message says what differs."""


def csv_text(value):
    """A pharmacy.csv text cell without the apostrophe dosesim puts before = + - @."""
    if len(value) >= 2 and value[0] == "'" and value[1] in "=+-@":
        return value[1:]
    return value


def pharmacy_events(path, site=None):
    """{uid: (date, cancelled)} for the rows of pharmacy.csv that are calendar events."""
    events = {}
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            if row["kind"] == "background":
                continue
            if site is not None and csv_text(row["site"]) != site:
                continue
            uid = "{}-{}-{}-{}@dosesim".format(
                csv_text(row["trial_id"]),
                csv_text(row["patient_id"]),
                csv_text(row["event"]),
                row["occurrence"],
            )
            if uid in events:
                raise Mismatch(f"{path}:{line}: a second row with UID {uid}")
            events[uid] = (dt.date.fromisoformat(row["date"]), row["status"] in CANCELLED_STATUSES)
    return events


def pharmacy_sites(path):
    with open(path, newline="", encoding="utf-8") as f:
        return sorted({csv_text(r["site"]) for r in csv.DictReader(f) if r["site"]})


def calendar_events(data, where, events=None):
    """Adds the VEVENTs of one VCALENDAR (bytes or str) to {uid: (date, cancelled)}."""
    if events is None:
        events = {}
    try:
        cal = icalendar.Calendar.from_ical(data)
    except ValueError as e:
        raise Mismatch(f"{where}: not a calendar icalendar can read: {e}") from e
    for ev in cal.walk("VEVENT"):
        uid = str(ev.get("UID", ""))
        if not uid:
            raise Mismatch(f"{where}: a VEVENT without a UID")
        if uid in events:
            raise Mismatch(f"{where}: UID {uid} twice")
        start = ev.get("DTSTART")
        end = ev.get("DTEND")
        if start is None or isinstance(start.dt, dt.datetime) or not isinstance(start.dt, dt.date):
            raise Mismatch(f"{where}: {uid}: DTSTART is not a DATE: {start and start.to_ical()!r}")
        if end is None or isinstance(end.dt, dt.datetime) or end.dt != start.dt + ONE_DAY:
            raise Mismatch(
                f"{where}: {uid}: DTEND is not the DATE after DTSTART {start.dt}: {end and end.to_ical()!r}"
            )
        events[uid] = (start.dt, str(ev.get("STATUS", "")).upper() == "CANCELLED")
    return events


def in_range(events, start, end):
    return {uid: v for uid, v in events.items() if start <= v[0] < end}


def compare(what, got, expected, got_name, expected_name):
    """Raises Mismatch unless the two {uid: (date, cancelled)} agree."""
    got_dates = {(uid, v[0]) for uid, v in got.items()}
    expected_dates = {(uid, v[0]) for uid, v in expected.items()}
    problems = []
    for label, pairs in (
        (f"in {expected_name}, not in {got_name}", expected_dates - got_dates),
        (f"in {got_name}, not in {expected_name}", got_dates - expected_dates),
    ):
        if pairs:
            listed = ", ".join(f"{uid} {day}" for uid, day in sorted(pairs, key=lambda p: (p[1], p[0]))[:10])
            more = f" and {len(pairs) - 10} more" if len(pairs) > 10 else ""
            problems.append(f"{len(pairs)} {label}: {listed}{more}")
    if not problems:
        wrong = sorted(uid for uid in expected if got[uid][1] != expected[uid][1])
        if wrong:
            problems.append(
                f"{len(wrong)} with STATUS:CANCELLED in one and not the other "
                f"(cancelled or missed in {expected_name}): " + ", ".join(wrong[:10])
            )
    if problems:
        raise Mismatch(
            f"{what}: {len(got)} events from {got_name}, {len(expected)} rows of {expected_name}; "
            + "; ".join(problems)
        )


def caldav_time(day, hour=0):
    return f"{day:%Y%m%d}T{hour:02d}0000Z"


class Server:
    def __init__(self, url):
        self.url = url.rstrip("/")
        # Straight to the local server, whatever http_proxy the environment sets.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method, path, body=None, headers=None, ok=(200, 201, 204, 207)):
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=120) as resp:
                status, data = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        except urllib.error.URLError as e:
            raise Mismatch(f"{method} {path}: no answer from {self.url}: {e.reason}") from e
        if status not in ok:
            text = data.decode("utf-8", "replace").strip()[:300]
            raise Mismatch(f"{method} {path}: the server answered {status}{': ' + text if text else ''}")
        return data

    def make_calendar(self, path):
        # The parent (a plain collection) first; 405 is its answer when it is already there.
        self.request("MKCOL", ROOT, ok=(201, 405))
        self.request("MKCALENDAR", path, ok=(201,))

    def import_whole(self, path, data):
        """One PUT of the whole VCALENDAR to the collection: the server splits it by UID."""
        self.request("PUT", path, data, {"Content-Type": "text/calendar; charset=utf-8"})

    def import_each(self, path, data):
        """One PUT per VEVENT, as `<uid>.ics`, with the file's calendar properties around it."""
        text = data.decode("utf-8")
        nl = "\r\n" if "\r\n" in text else "\n"
        lines = text.split(nl)
        if lines and lines[-1] == "":
            lines.pop()
        if not lines or lines[0] != "BEGIN:VCALENDAR" or lines[-1] != "END:VCALENDAR":
            raise Mismatch(f"{path}: the file is not one VCALENDAR")
        head, components, depth, current = [], [], 0, []
        for line in lines[1:-1]:
            if depth == 0 and not line.startswith("BEGIN:"):
                head.append(line)
                continue
            current.append(line)
            if line.startswith("BEGIN:"):
                depth += 1
            elif line.startswith("END:"):
                depth -= 1
                if depth == 0:
                    components.append(current)
                    current = []
        shared = [c for c in components if c[0] == "BEGIN:VTIMEZONE"]
        for comp in components:
            if comp[0] != "BEGIN:VEVENT":
                continue
            uid = next((ln[4:] for ln in comp if ln.startswith("UID:")), None)
            if not uid:
                raise Mismatch(f"{path}: a VEVENT without a one-line UID")
            body = ["BEGIN:VCALENDAR", *head, *(ln for c in shared for ln in c), *comp, "END:VCALENDAR", ""]
            self.request(
                "PUT",
                path + urllib.parse.quote(uid + ".ics", safe=""),
                nl.join(body).encode("utf-8"),
                # A second VEVENT with the same UID is refused (412), not silently replaced.
                {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"},
            )

    def query(self, path, start=None, end=None):
        """{uid: (date, cancelled)} of a calendar-query REPORT, with a time-range if given."""
        time_range = ""
        if start is not None:
            time_range = f'<C:time-range start="{start}" end="{end}"/>'
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f"{time_range}</C:comp-filter></C:comp-filter></C:filter>"
            "</C:calendar-query>"
        ).encode("utf-8")
        data = self.request(
            "REPORT", path, body, {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}, ok=(207,)
        )
        try:
            root = ET.fromstring(data)
        except ET.ParseError as e:
            raise Mismatch(f"REPORT {path}: the answer is not XML: {e}") from e
        if root.tag != DAV + "multistatus":
            raise Mismatch(f"REPORT {path}: the answer is {root.tag}, not a DAV:multistatus")
        events = {}
        for response in root.findall(DAV + "response"):
            href = response.findtext(DAV + "href", "")
            cal_data = None
            for propstat in response.findall(DAV + "propstat"):
                if " 200 " in (propstat.findtext(DAV + "status", "") + " "):
                    cal_data = propstat.findtext(f"{DAV}prop/{CALDAV}calendar-data")
            if cal_data is None:
                raise Mismatch(f"REPORT {path}: {href} came back without calendar-data")
            before = len(events)
            calendar_events(cal_data, f"REPORT {path}: {href}", events)
            if len(events) - before != 1:
                raise Mismatch(f"REPORT {path}: {href} holds {len(events) - before} VEVENTs, not 1")
        return events


def edge_range(events):
    """A short range [a, b) of whole days with events in it, on the day before a and on b.

    Those events touch the range's edges: the ones of the day before end (DTEND) at a, the
    ones of b start at b; neither may come back. Without such days, the busiest day.
    """
    count = {}
    for day, _ in events.values():
        count[day] = count.get(day, 0) + 1
    for length in range(1, 8):
        found = [
            (sum(count.get(a + k * ONE_DAY, 0) for k in range(length)), a)
            for a in count
            if a - ONE_DAY in count and a + length * ONE_DAY in count
        ]
        if found:
            a = max(found)[1]
            return a, a + length * ONE_DAY
    a = max(count, key=lambda d: (count[d], d))
    return a, a + ONE_DAY


def plural(n, word):
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def vevent_blocks(data, where):
    """{uid: the VEVENT's text, BEGIN to END line, as written} of a calendar file's bytes."""
    blocks = {}
    text = data.decode("utf-8")
    for block in re.findall(r"^BEGIN:VEVENT\r?\n.*?^END:VEVENT\r?\n", text, re.S | re.M):
        uid = re.search(r"^UID:([^\r\n]*)", block, re.M)
        if uid is None:
            raise Mismatch(f"{where}: a VEVENT without a one-line UID")
        blocks[uid.group(1)] = block
    return blocks


def patient_blocks(folder):
    """{uid: VEVENT text} of every patients/<PATIENT>.ics of a trial folder."""
    blocks = {}
    patients = os.path.join(folder, "patients")
    for name in sorted(os.listdir(patients)):
        if name.endswith(".ics"):
            path = os.path.join(patients, name)
            with open(path, "rb") as f:
                blocks.update(vevent_blocks(f.read(), path))
    return blocks


def check_file(server, label, ics_path, collection, expected_all, start, end, how, patients):
    """The three steps of the module's docstring for one file; returns the summary lines."""
    if not os.path.isfile(ics_path):
        raise Mismatch(f"{ics_path} is missing: dosesim did not write it")
    with open(ics_path, "rb") as f:
        data = f.read()

    # 1. The file against pharmacy.csv, before any server is involved.
    compare(f"{label}: the file", calendar_events(data, ics_path), expected_all, "the file", "pharmacy.csv")
    differ = sorted(uid for uid, block in vevent_blocks(data, ics_path).items() if patients.get(uid) != block)
    if differ:
        raise Mismatch(
            f"{label}: {plural(len(differ), 'VEVENT')} not byte for byte as in patients/<PATIENT>.ics: "
            + ", ".join(differ[:10])
        )

    # 2. Import.
    server.make_calendar(collection)
    (server.import_whole if how == "whole" else server.import_each)(collection, data)

    # 3. Queries.
    stored = server.query(collection)
    compare(f"{label}: all events", stored, expected_all, "the server", "pharmacy.csv")
    expected = in_range(expected_all, start, end)
    if not expected:
        raise Mismatch(f"{label}: pharmacy.csv has no event in {start}..{end}: choose a range with events")
    got = server.query(collection, caldav_time(start), caldav_time(end))
    compare(f"{label}: {start}..{end}", got, expected, "the server", "pharmacy.csv")
    cancelled = sum(1 for _, c in got.values() if c)
    lines = [
        f"{label}: {start}..{end}: {plural(len(got), 'event')} from the server = {plural(len(expected), 'row')}"
        f" of pharmacy.csv ({cancelled} of them STATUS:CANCELLED; all {len(stored)} events stored,"
        f" imported {'as one PUT of the file' if how == 'whole' else 'one PUT per event'})"
    ]

    a, b = edge_range(expected_all)
    expected_edge = in_range(expected_all, a, b)
    got_edge = server.query(collection, caldav_time(a), caldav_time(b))
    compare(f"{label}: {a}..{b}", got_edge, expected_edge, "the server", "pharmacy.csv")
    # One hour inside the range's first day: an all-day event overlaps it, so it is returned.
    expected_hour = in_range(expected_all, a, a + ONE_DAY)
    got_hour = server.query(collection, caldav_time(a, 12), caldav_time(a, 13))
    compare(f"{label}: {a} 12:00..13:00Z", got_hour, expected_hour, "the server", "pharmacy.csv")
    before = len(in_range(expected_all, a - ONE_DAY, a))
    after = len(in_range(expected_all, b, b + ONE_DAY))
    lines.append(
        f"{label}: {a}..{b}: {plural(len(got_edge), 'event')} from the server ="
        f" {plural(len(expected_edge), 'row')} of pharmacy.csv, none of the {before} of {a - ONE_DAY}"
        f" (DTEND = the range's start) nor of the {after} of {b} (DTSTART = its end);"
        f" {a} 12:00..13:00Z: {len(got_hour)} = {len(expected_hour)}"
    )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the CalDAV server, e.g. http://127.0.0.1:5232")
    parser.add_argument("--out", required=True, help="the --out folder of the dosesim cohort runs")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 9, 1))
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 11, 1), help="exclusive")
    parser.add_argument("--import", dest="how", choices=("whole", "each"), default="whole")
    parser.add_argument("trials", nargs="+", metavar="TRIAL")
    args = parser.parse_args()
    if args.end <= args.start:
        parser.error("--end must be after --start")

    server = Server(args.url)
    passed = failed = 0

    def run(fn):
        nonlocal passed, failed
        try:
            for line in fn():
                print(line, flush=True)
            passed += 1
        except Mismatch as e:
            print(f"FAIL: {e}", file=sys.stderr, flush=True)
            failed += 1

    for trial in args.trials:
        folder = os.path.join(args.out, trial)
        pharmacy = os.path.join(folder, "pharmacy.csv")
        if not os.path.isfile(pharmacy):
            print(f"FAIL: {trial}: {pharmacy} is missing", file=sys.stderr, flush=True)
            failed += 1
            continue
        quoted = urllib.parse.quote(trial, safe="")
        try:
            patients = patient_blocks(folder)
        except (OSError, UnicodeDecodeError, Mismatch) as e:
            print(f"FAIL: {trial}: the patients' calendar files: {e}", file=sys.stderr, flush=True)
            failed += 1
            continue
        run(
            lambda: check_file(
                server,
                f"{trial}: calendar.ics",
                os.path.join(folder, "calendar.ics"),
                f"{ROOT}{quoted}/",
                pharmacy_events(pharmacy),
                args.start,
                args.end,
                args.how,
                patients,
            ),
        )

        sites = pharmacy_sites(pharmacy)

        def site_files():
            if not sites:
                raise Mismatch(f"{trial}: pharmacy.csv's site column is empty: no site file to check")
            folder_sites = os.path.join(folder, "sites")
            written = sorted(n[:-4] for n in os.listdir(folder_sites) if n.endswith(".ics")) if os.path.isdir(folder_sites) else []
            if written != sites:
                raise Mismatch(f"{trial}: sites/ holds {written or 'nothing'}, pharmacy.csv names the sites {sites}")
            return [f"{trial}: sites/: one file per site of pharmacy.csv ({', '.join(sites)})"]

        run(site_files)
        for site in sites:
            run(
                lambda site=site: check_file(
                    server,
                    f"{trial}: sites/{site}.ics",
                    os.path.join(folder, "sites", site + ".ics"),
                    f"{ROOT}{quoted}-site-{urllib.parse.quote(site, safe='')}/",
                    pharmacy_events(pharmacy, site),
                    args.start,
                    args.end,
                    args.how,
                    patients,
                ),
            )

    print(f"caldav: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
