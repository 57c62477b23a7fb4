#!/usr/bin/env bash
# The printable preparation sheet as a pharmacist prints it: rendered by headless Chromium to
# a screenshot (to look at) and to an A4 PDF (to check the print layout):
#   - every date and site starts a page of its own, and no page holds two;
#   - no table row is split across pages: each dose row is whole on one page, its patient,
#     n/N, dose and cumulative dose on one line;
#   - every dose of the sheet is printed, once;
#   - nothing is printed beyond the page's margins (a table too wide for A4 is cut off).
#
#   bash tests/print/prep-sheet.sh DOSESIM_BINARY [OUT_DIR]     (from the repository root)
#
# Needs Debian's chromium and poppler-utils (pdftotext, pdfinfo):
#   apt-get install -y chromium poppler-utils
# Writes OUT_DIR (default target/print/): sheet.html, sheet.png (the first page, 1280x2400),
# sheet.pdf and its pages' text.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: bash tests/print/prep-sheet.sh DOSESIM_BINARY [OUT_DIR]" >&2
  exit 2
fi
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")/../.."
out=${2:-target/print}
mkdir -p "$out"
out=$(cd "$out" && pwd)
for tool in chromium pdftotext pdfinfo; do
  command -v "$tool" >/dev/null || { echo "print: $tool is missing (apt-get install -y chromium poppler-utils)" >&2; exit 2; }
done

# A busy week: 45 patients of NCT04822922 starting on Monday 2027-01-04 (15 an arm) fill
# the days of their infusions past one page; 3 more start on Tuesday.
roster=$out/roster.csv
{
  echo "patient_id,arm,weight_kg,start_date"
  for i in $(seq 1 45); do
    arms=(low middle high)
    printf 'P%03d,%s,%s,2027-01-04\n' "$i" "${arms[$((i % 3))]}" "$((50 + i)).5"
  done
  for i in 46 47 48; do printf 'P%03d,high,70,2027-01-05\n' "$i"; done
} >"$roster"
"$bin" prep NCT04822922 --roster "$roster" --week 2027-W01 --concentration uc_msc=2.5e6 \
  --out "$out/sheet.html" 2>"$out/prep.log"
"$bin" prep NCT04822922 --roster "$roster" --week 2027-W01 --concentration uc_msc=2.5e6 \
  --format csv --out "$out/sheet.csv" 2>>"$out/prep.log"

chrome() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" "$@" >/dev/null 2>&1
}
chrome --screenshot="$out/sheet.png" --window-size=1280,2400 "file://$out/sheet.html"
chrome --print-to-pdf="$out/sheet.pdf" --no-pdf-header-footer "file://$out/sheet.html"
pages=$(pdfinfo "$out/sheet.pdf" | awk '/^Pages:/ {print $2}')
pdftotext -bbox "$out/sheet.pdf" "$out/sheet-words.html"
for k in $(seq 1 "$pages"); do
  pdftotext -layout -f "$k" -l "$k" "$out/sheet.pdf" "$out/page-$k.txt"
done

python3 - "$out" "$pages" <<'PY'
import csv, pathlib, re, sys
out, pages = pathlib.Path(sys.argv[1]), int(sys.argv[2])
rows = [r for r in csv.DictReader(open(out / "sheet.csv")) if r["line"] == "dose"]
days = sorted({(r["date"], r["site"]) for r in rows})
text = [(out / f"page-{k}.txt").read_text() for k in range(1, pages + 1)]
problems = []
heads = [t.count("Preparation sheet:") for t in text]
if any(h > 1 for h in heads):
    problems.append(f"a page holds two days: headings per page {heads}")
if sum(heads) != len(days):
    problems.append(f"{sum(heads)} day headings printed, {len(days)} days on the sheet")
starts = [k for k, h in enumerate(heads) if h]
if starts[:1] != [0]:
    problems.append("the first page does not start a day")
seen = {}
for k, t in enumerate(text):
    for line in t.splitlines():
        m = re.match(r"\s*(P\d{3})\s", line)
        if m:
            seen.setdefault(m.group(1), []).append((k, line))
by_patient = {}
for r in rows:
    by_patient.setdefault(r["patient_id"], []).append(r)
for pid, rs in by_patient.items():
    printed = seen.get(pid, [])
    if len(printed) != len(rs):
        problems.append(f"{pid}: {len(rs)} doses on the sheet, {len(printed)} rows printed")
        continue
    for r, (k, line) in zip(rs, printed):
        n_of = f'{r["occurrence"]}/{r["occurrences"]}'
        for want in (n_of, r["dose"], r["cumulative_dose"]):
            if want not in line:
                problems.append(f"{pid} {n_of} on page {k + 1}: '{want}' is not on its row: {line.strip()}")
# Every word inside the 12 mm margins (34 pt), with 2 pt for rounding.
words = (out / "sheet-words.html").read_text()
for k, page in enumerate(re.findall(r'<page width="([\d.]+)" height="[\d.]+">(.*?)</page>', words, re.S)):
    width = float(page[0])
    for x0, x1, w in re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', page[1]):
        if float(x0) < 32 or float(x1) > width - 32:
            problems.append(f"page {k + 1}: '{w}' is printed at x {x0}-{x1} pt, outside the margins of a {width} pt page")
            break
print(f"print: {pages} A4 pages for {len(days)} days, {len(rows)} dose rows, each whole on one page; headings per page {heads}")
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
PY
echo "print: screenshot $out/sheet.png, PDF $out/sheet.pdf"
