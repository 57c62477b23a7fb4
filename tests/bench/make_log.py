"""An administration record for a roster of NCT04822922 (shared/bench/make_roster.py's):
each patient's first three infusions (study days 1, 4 and 7) given, three rows a patient;
every 20th patient's second infusion a day late. The same file as the in-library
benchmark's `make_log`, for measuring `dosesim pharmacy --log` end to end.

    python3 tests/bench/make_log.py ROSTER.csv LOG.csv
"""

import csv
import datetime
import sys


def main(roster_path: str, log_path: str) -> None:
    with open(roster_path, newline="") as f, open(log_path, "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["patient_id", "date", "record", "component", "occurrence", "amount", "note"])
        for i, row in enumerate(csv.DictReader(f)):
            start = datetime.date.fromisoformat(row["start_date"])
            for k, day in enumerate((1, 4, 7)):
                late = 1 if k == 1 and i % 20 == 0 else 0
                date = start + datetime.timedelta(days=day - 1 + late)
                w.writerow([row["patient_id"], date.isoformat(), "given", "uc_msc", k + 1, "", ""])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
