#!/usr/bin/env python3
"""crypto.py CRITERION_TXT OPENSSL_SPEED_TXT: one JSON line per (algorithm, op), ops/s on one core
for mayfly-keys (criterion's median time) and `openssl speed`."""
import json, re, sys

UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}

def algo(name):
    n = name.lower()
    if "ed25519" in n: return "ed25519"
    if "rsa" in n and "2048" in n: return "rsa2048"
    if "256" in n and "rsa" not in n: return "ecdsap256"
    return None

ours = {}
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
for i, line in enumerate(lines):
    m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
    if not m: continue
    name = line.split("time:")[0].strip() or lines[i - 1].strip()
    parts = name.split("/")
    if len(parts) < 3 or algo(parts[2]) is None: continue
    secs = float(m.group(1)) * UNITS[m.group(2)]
    ours[(algo(parts[2]), parts[0])] = 1.0 / secs

theirs = {}
for line in open(sys.argv[2], encoding="utf-8"):
    a = algo(line) if ("bits" in line) else None
    if a is None: continue
    toks = line.split()
    first_time = next((k for k, t in enumerate(toks) if re.fullmatch(r"[0-9.]+s", t)), None)
    if first_time is None: continue
    rates = [float(t) for t in toks[first_time:] if re.fullmatch(r"[0-9.]+", t)]
    if len(rates) >= 2:
        theirs[(a, "sign")], theirs[(a, "verify")] = rates[0], rates[1]

for key in sorted(set(ours) | set(theirs)):
    print(json.dumps({"bench": "crypto", "algorithm": key[0], "op": key[1],
                      "mayfly_ops_s": ours.get(key), "openssl_ops_s": theirs.get(key)}))
