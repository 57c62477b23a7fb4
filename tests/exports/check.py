"""Runs each format's checker on dosesim's exports, then on deliberately broken copies.

    python check.py --work DIR --shared SHARED_DATA TRIAL...

DIR is what check.sh made: pharmacy/<TRIAL>.csv, out/<TRIAL>/<format>/ for each format, and
expanded/<TRIAL>/nonmem/ (the event table without ADDL/II). Each format's module (nonmem.py,
sdtm.py, fhir.py, beside this file) has

    check(folder, pharmacy, shared) -> list of problems ([] when the export passes)
    BREAKAGES: list of (what it breaks, function that breaks a copy of an export folder)

Every export of every trial must pass; every breakage, applied to a copy of the export of
the trial with an administration record, must be caught (at least one problem). A checker
that raises has not caught anything: its traceback is shown and the check fails. The last
line is "N passed, N failed".
"""

import argparse
import importlib
import pathlib
import shutil
import sys
import tempfile
import traceback

HERE = pathlib.Path(__file__).resolve().parent
# The folders each format is checked in, under --work.
ROOTS = {"nonmem": ["out", "expanded"], "sdtm": ["out"], "fhir": ["out"]}
# The trial whose export is broken on purpose: the one with an administration record, so
# that given, missed and cancelled doses are all there to break.
BROKEN_TRIAL = "NCT01724398"


def run(work, shared, trials):
    sys.path.insert(0, str(HERE))
    passed, failed = 0, 0
    for fmt, roots in ROOTS.items():
        module = importlib.import_module(fmt)
        for trial in trials:
            pharmacy = work / "pharmacy" / f"{trial}.csv"
            for root in roots:
                folder = work / root / trial / fmt
                name = f"{fmt} {trial} ({root})"
                try:
                    problems = module.check(folder, pharmacy, shared)
                except Exception:
                    problems = ["the checker failed:\n" + traceback.format_exc()]
                if problems:
                    failed += 1
                    print(f"FAIL {name}: {len(problems)} problems")
                    for p in problems[:20]:
                        print(f"  {p}")
                else:
                    passed += 1
                    print(f"ok   {name}")
        if BROKEN_TRIAL not in trials:
            continue
        pharmacy = work / "pharmacy" / f"{BROKEN_TRIAL}.csv"
        for what, breaker in module.BREAKAGES:
            name = f"{fmt} {BROKEN_TRIAL} broken: {what}"
            with tempfile.TemporaryDirectory() as t:
                copy = pathlib.Path(t) / fmt
                shutil.copytree(work / ROOTS[fmt][0] / BROKEN_TRIAL / fmt, copy)
                try:
                    breaker(copy)
                    problems = module.check(copy, pharmacy, shared)
                    crash = None
                except Exception:
                    problems, crash = [], traceback.format_exc()
            if problems:
                passed += 1
                print(f"ok   {name}: caught ({problems[0].splitlines()[0][:160]})")
            else:
                failed += 1
                print(f"FAIL {name}: not caught")
                if crash:
                    print(crash)
    return passed, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=pathlib.Path)
    parser.add_argument("--shared", required=True, type=pathlib.Path)
    parser.add_argument("trials", nargs="+")
    args = parser.parse_args()
    passed, failed = run(args.work, args.shared.resolve(), args.trials)
    print(f"exports: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
