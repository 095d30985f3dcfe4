#!/usr/bin/env python3
"""report.py RAW_JSONL OUT_DIR: medians of the repetitions, the table (stdout), results.json and
PNG plots (when matplotlib is importable)."""
import collections, json, os, statistics, sys

raw = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
out = sys.argv[2]
med = lambda rows, k: statistics.median([r[k] for r in rows if r.get(k) is not None]) if any(r.get(k) is not None for r in rows) else None
machine = next((r for r in raw if r["bench"] == "machine"), {})

def summarize(bench, level):
    """Medians per (server, level) of one bench's rows; level is "conns" or "workers"."""
    groups = collections.defaultdict(list)
    for r in raw:
        if r["bench"] == bench and "server" in r:
            groups[(r["server"], r[level])].append(r)
    summary = []
    for (server, n), rows in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        s = {"server": server, level: n, "reps": len(rows), "rps_all": [r["rps"] for r in rows]}
        # A repetition in which the server stopped answering (the client timed orders out
        # after 30 s) says nothing about its speed: excluded, and counted.
        hung = [r for r in rows if any("timed out" in e for e in r.get("err_samples", []))]
        rows = [r for r in rows if r not in hung]
        s["stalled"] = len(hung)
        for k in ("rps", "p50_ms", "p90_ms", "p99_ms", "cpu_cores", "client_cpu_cores", "vmhwm_kb"):
            s[k] = med(rows, k)
        per_op = [1000 * r["cpu_cores"] / r["rps"] for r in rows if r["rps"]]
        s["cpu_ms_per_op"] = statistics.median(per_op) if per_op else None
        client = [1000 * r["client_cpu_cores"] / r["rps"] for r in rows if r["rps"] and "client_cpu_cores" in r]
        s["client_cpu_ms_per_op"] = statistics.median(client) if client else None
        s["errors"] = sum(r.get("errors", 0) for r in rows)
        s["pool_exhausted"] = sum(r.get("pool_exhausted") or 0 for r in rows)
        summary.append(s)
    return summary

sign_summary = summarize("sign", "conns")
for s in sign_summary:
    s["cpu_ms_per_cert"] = s["cpu_ms_per_op"]
acme_summary = summarize("acme", "workers")

crl_rows = [r for r in raw if r["bench"] == "crl"]
crl = None
if crl_rows:
    crl = {k: med(crl_rows, k) for k in ("mayfly_real_s", "mayfly_cpu_s", "openssl_real_s", "openssl_cpu_s")}
    crl.update(rows=crl_rows[0]["rows"], reps=len(crl_rows))
crypto = [r for r in raw if r["bench"] == "crypto"]
regress = next((r for r in raw if r["bench"] == "regress"), None)
units = [r for r in raw if r["bench"] == "units"]

table = []
def row(what, ours, theirs, ratio, note=""):
    table.append((what, ours, theirs, ratio, note))
fmt = lambda v, f="{:,.0f}": "-" if v is None else f.format(v)
for c in sorted({s["conns"] for s in sign_summary}):
    m = next((s for s in sign_summary if s["server"] == "mayfly" and s["conns"] == c), None)
    p = next((s for s in sign_summary if s["server"] == "cfssl" and s["conns"] == c), None)
    if not (m and p): continue
    row(f"sign certs/s, {c} conn (vs cfssl)", fmt(m["rps"]), fmt(p["rps"]), f"{m['rps'] / p['rps']:.2f}x",
        ", ".join(f"{k[:3]} {fmt(m[k], '{:.1f}')}/{fmt(p[k], '{:.1f}')}" for k in ("p50_ms", "p90_ms", "p99_ms")) + " ms")
    row(f"  server CPU ms/cert, {c} conn", fmt(m["cpu_ms_per_cert"], "{:.3f}"), fmt(p["cpu_ms_per_cert"], "{:.3f}"),
        f"{m['cpu_ms_per_cert'] / p['cpu_ms_per_cert']:.2f}x" if p["cpu_ms_per_cert"] else "-",
        f"peak RSS {m['vmhwm_kb'] / 1024:.0f}/{p['vmhwm_kb'] / 1024:.0f} MiB; errors {m['errors']}/{p['errors']}"
        + (f"; TOKEN POOL RAN DRY {m['pool_exhausted']}x (raise BENCH_TOKENS_PER_S)" if m["pool_exhausted"] else ""))
for n in sorted({s["workers"] for s in acme_summary}):
    m = next((s for s in acme_summary if s["server"] == "mayfly" and s["workers"] == n), None)
    p = next((s for s in acme_summary if s["server"] == "pebble" and s["workers"] == n), None)
    if not (m and p): continue
    row(f"ACME orders/s, {n} workers (vs Pebble)", fmt(m["rps"], "{:,.1f}"), fmt(p["rps"], "{:,.1f}"),
        f"{m['rps'] / p['rps']:.2f}x" if m["rps"] and p["rps"] else "-",
        f"p50 {m['p50_ms'] or 0:.1f}/{p['p50_ms'] or 0:.1f} ms, p99 {m['p99_ms'] or 0:.1f}/{p['p99_ms'] or 0:.1f} ms"
        + "".join(f"; {s['server']} stalled in {s['stalled']} of {s['reps']} reps (excluded)" for s in (m, p) if s["stalled"]))
    row(f"  server CPU ms/order, {n} workers", fmt(m["cpu_ms_per_op"], "{:.2f}"), fmt(p["cpu_ms_per_op"], "{:.2f}"),
        f"{m['cpu_ms_per_op'] / p['cpu_ms_per_op']:.2f}x" if m["cpu_ms_per_op"] and p["cpu_ms_per_op"] else "-",
        f"peak RSS {(m['vmhwm_kb'] or 0) / 1024:.0f}/{(p['vmhwm_kb'] or 0) / 1024:.0f} MiB; errors {m['errors']}/{p['errors']}"
        + (f"; client CPU ms/order {fmt(m['client_cpu_ms_per_op'], '{:.2f}')}/{fmt(p['client_cpu_ms_per_op'], '{:.2f}')}"
           if m.get("client_cpu_ms_per_op") is not None else ""))
if crl:
    row(f"CRL {crl['rows']:,} entries, wall s (vs openssl ca -gencrl)", fmt(crl["mayfly_real_s"], "{:.2f}"),
        fmt(crl["openssl_real_s"], "{:.2f}"), f"{crl['openssl_real_s'] / crl['mayfly_real_s']:.1f}x faster",
        f"CPU s {crl['mayfly_cpu_s']:.2f}/{crl['openssl_cpu_s']:.2f}")
for r in crypto:
    ratio = f"{r['mayfly_ops_s'] / r['openssl_ops_s']:.2f}x" if r["mayfly_ops_s"] and r["openssl_ops_s"] else "-"
    row(f"{r['algorithm']} {r['op']}/s, 1 core (vs openssl speed)", fmt(r["mayfly_ops_s"]), fmt(r["openssl_ops_s"]), ratio)
for r in units:
    value = {"µs": "{:,.1f} µs", "/s": "{:,.0f}/s", "s": "{:.3f} s"}[r["unit"]]
    met = "" if r["met"] is None else ("target met" if r["met"] else "TARGET MISSED")
    row(r["what"], fmt(r["ours"], value), fmt(r["ref"], value),
        "-" if r["ratio"] is None else f"{r['ratio']:.2f}x", f"target {r['target']}: {met}" if met else "")
if regress:
    row("issuance instructions (callgrind)", fmt(regress["instructions_per_issuance"]), "baseline", "-",
        "OK" if regress["status"] == 0 else "REGRESSION")

w = [max(len(str(t[i])) for t in table + [("what", "Mayfly", "peer", "ratio", "")]) for i in range(5)]
header = ("what", "Mayfly", "peer", "ratio", "notes")
print(f"\nMayfly benchmarks, {machine.get('date', '?')}, {machine.get('cores', '?')} cores "
      f"({machine.get('cpu', '?')}), load at start {machine.get('load', '?')}")
print(" | ".join(str(h).ljust(w[i]) for i, h in enumerate(header)))
print("-+-".join("-" * w[i] for i in range(5)))
for t in table:
    print(" | ".join(str(v).ljust(w[i]) if i in (0, 4) else str(v).rjust(w[i]) for i, v in enumerate(t)))

results = {"machine": machine, "sign": sign_summary, "acme": acme_summary, "crl": crl, "crypto": crypto,
           "units": units, "regress": regress, "raw": [r for r in raw if r["bench"] != "machine"]}
with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
    json.dump(results, f, indent=2)
print(f"\nwrote {os.path.join(out, 'results.json')}")

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib missing: no plots (pip install matplotlib into .venv)")
    sys.exit(0)
if sign_summary:
    servers = sorted({s["server"] for s in sign_summary})
    by = lambda srv, k: [(s["conns"], s[k]) for s in sign_summary if s["server"] == srv]
    plots = [("sign_throughput.png", "rps", "certificates/s", "Sign throughput vs connections (median of reps)"),
             ("sign_cpu.png", "cpu_ms_per_cert", "server CPU ms per certificate", "Server CPU per certificate")]
    for name, key, ylabel, title in plots:
        fig, ax = plt.subplots(figsize=(6, 4))
        for srv in servers:
            xs, ys = zip(*by(srv, key))
            ax.plot(xs, ys, marker="o", label=srv)
        ax.set_xscale("log", base=2); ax.set_xlabel("connections (keep-alive, HTTPS)"); ax.set_ylabel(ylabel)
        ax.set_title(title); ax.legend(); ax.grid(alpha=.3); fig.tight_layout()
        fig.savefig(os.path.join(out, name), dpi=100); plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 4))
    conns = sorted({s["conns"] for s in sign_summary})
    width = 0.8 / (len(servers) * 3)
    for i, srv in enumerate(servers):
        for j, k in enumerate(("p50_ms", "p90_ms", "p99_ms")):
            vals = [next((s[k] for s in sign_summary if s["server"] == srv and s["conns"] == c), None) or 0 for c in conns]
            ax.bar([x + (i * 3 + j) * width for x in range(len(conns))], vals, width, label=f"{srv} {k[:-3]}")
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(conns))], [f"{c} conn" for c in conns])
    ax.set_ylabel("latency ms"); ax.set_title("Sign latency percentiles"); ax.legend(fontsize=7, ncol=2)
    fig.tight_layout(); fig.savefig(os.path.join(out, "sign_latency.png"), dpi=100); plt.close(fig)
    print(f"wrote {out}/sign_throughput.png, sign_latency.png, sign_cpu.png")
