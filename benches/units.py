#!/usr/bin/env python3
"""units.py CRITERION_TXT: the library benches set against the targets their issues name, one
JSON line each. Reads criterion's text output of the benches `scripts/bench.sh units` runs."""
import json, re, sys

UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
THRPT = {"elem/s": 1.0, "Kelem/s": 1e3, "Melem/s": 1e6}

times, rates = {}, {}
name = None
for line in open(sys.argv[1], encoding="utf-8").read().splitlines():
    head = line.split("time:")[0].split("thrpt:")[0].strip()
    if head and not head.startswith(("Benchmarking", "Found", "Warning", "change:", "Performance",
                                     "No change", "Change", "Gnuplot", "Running")) \
            and re.fullmatch(r"[\w./-]+", head):
        name = head
    m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
    if m and name:
        times[name] = float(m.group(1)) * UNITS[m.group(2)]
    m = re.search(r"thrpt:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
    if m and name:
        rates[name] = float(m.group(1)) * THRPT[m.group(2)]


def emit(what, ours, ref, ratio, target, met, unit):
    print(json.dumps({"bench": "units", "what": what, "ours": ours, "ref": ref, "ratio": ratio,
                      "target": target, "met": met, "unit": unit}))


def ratio_row(what, ours_name, ref_name, limit, issue):
    ours, ref = times.get(ours_name), times.get(ref_name)
    if ours is None or ref is None:
        return
    r = ours / ref
    emit(what, ours * 1e6, ref * 1e6, r, f"<= {limit}x ({issue})", r <= limit, "µs")


ratio_row("leaf issuance in process: render + build + sign (vs rcgen + ring)",
          "template/issue_leaf_render_build_sign", "rcgen_ring/issue_p256_leaf", 1.25, "#3")
ratio_row("OTT validation ES256 (vs one bare P-256 verify, aws-lc)",
          "ott/validate_es256_aws-lc", "ott/bare_p256_verify_mayfly_keys_aws-lc", 1.2, "#4")
for backend in ("sqlite", "mysql", "postgres"):
    for writers in (1, 16):
        key = f"issuance_writes/{backend}/{writers}_writers"
        if key in rates:
            target = ">= 5,000/s (#6)" if (backend, writers) == ("sqlite", 16) else "-"
            met = rates[key] >= 5000 if target != "-" else None
            emit(f"durable issuance records/s, {backend}, {writers} writers", rates[key], None, None,
                 target, met, "/s")
if "authority/sign_p256_sqlite_x256" in rates:
    r = rates["authority/sign_p256_sqlite_x256"]
    emit("Authority::sign certs/s, one runtime thread, SQLite (token + CSR + sign + record)", r,
         None, None, ">= 2,500/s (#7)", r >= 2500, "/s")
if "crl/crl_1m" in times:
    t = times["crl/crl_1m"]
    emit("CRL of 1,000,000 entries built and signed, one core", t, None, None, "<= 1 s (#5)", t <= 1.0, "s")
