#!/usr/bin/env python3
"""regress.py BASELINE_JSON MEASURED [--update]: compares the callgrind instruction count per
in-process issuance with the committed baseline; exit 1 when it grew beyond the tolerance."""
import json, sys

path, measured = sys.argv[1], int(sys.argv[2])
update = len(sys.argv) > 3 and sys.argv[3] == "--update"
try:
    base = json.load(open(path, encoding="utf-8"))
except FileNotFoundError:
    base = None
if update or base is None:
    tol = base["tolerance"] if base else 0.05
    json.dump({"instructions_per_issuance": measured, "tolerance": tol,
               "note": "callgrind Ir per `mayfly-loadgen issue` iteration (release build); "
                       "refresh with `scripts/bench.sh regress --update` after a deliberate change"},
              open(path, "w", encoding="utf-8"), indent=2)
    print(f"regress: baseline written: {measured} instructions per issuance")
    sys.exit(0)
expected, tol = base["instructions_per_issuance"], base["tolerance"]
change = (measured - expected) / expected
verdict = "OK" if change <= tol else "REGRESSION"
print(f"regress: {measured} instructions per issuance, baseline {expected} "
      f"({change:+.1%}, tolerance +{tol:.0%}): {verdict}")
if change < -tol:
    print("regress: faster than the baseline by more than the tolerance; "
          "consider `scripts/bench.sh regress --update`")
sys.exit(0 if verdict == "OK" else 1)
