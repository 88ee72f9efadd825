#!/usr/bin/env python3
"""portproof tls side by side with sslyze and testssl.sh, on the same servers.

For each target: the wall time of each tool (median of several runs; testssl.sh once by
default, it takes a minute), and whether each finding agrees with portproof's: TLS versions
accepted, cipher suites per version, chain length and leaf subject, leaf expiry date, and the
client-certificate request. Prints Markdown tables and the speed ratios.

Run after `bash testbeds/scripts/nginx.sh` and `cargo build --release`:

    python3 benches/tls_compare.py                       # the three nginx TLS ports
    python3 benches/tls_compare.py --targets 127.0.0.1:18443 --runs 20

Needs sslyze (pip install sslyze) and testssl.sh (apt-get install testssl.sh). This is a
benchmark, not a test: it never fails on a disagreement, it reports it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORTPROOF = os.path.join(ROOT, "target", "release", "portproof")
STATE = os.environ.get("PORTPROOF_STATE", "/tmp/portproof-testbeds")
CA = os.path.join(STATE, "nginx", "ca.pem")
DEFAULT_TARGETS = ["127.0.0.1:18443", "127.0.0.1:18446", "127.0.0.1:18445"]

SSLYZE_VERSIONS = {
    "ssl_2_0_cipher_suites": "SSL 2.0",
    "ssl_3_0_cipher_suites": "SSL 3.0",
    "tls_1_0_cipher_suites": "TLS 1.0",
    "tls_1_1_cipher_suites": "TLS 1.1",
    "tls_1_2_cipher_suites": "TLS 1.2",
    "tls_1_3_cipher_suites": "TLS 1.3",
}
TESTSSL_VERSIONS = {"SSLv2": "SSL 2.0", "SSLv3": "SSL 3.0", "TLS1": "TLS 1.0", "TLS1_1": "TLS 1.1", "TLS1_2": "TLS 1.2", "TLS1_3": "TLS 1.3"}


def iana(name):
    """rustls calls TLS 1.3 suites TLS13_*, the registry TLS_*."""
    return "TLS_" + name[len("TLS13_"):] if name.startswith("TLS13_") else name


def timed(cmd, runs):
    """Median wall time of `runs` runs, and the last run's stdout."""
    times, out = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        out = p.stdout
    return statistics.median(times), out


def portproof(target, runs):
    t, out = timed([PORTPROOF, "tls", target, "--ca", CA, "--format", "json"], runs)
    r = json.loads(out)["results"][0]
    f = r["facts"]
    suites = {v["version"]: {iana(s) for s in v["suites"]} for v in f.get("tls_scan", {}).get("versions", []) if v["accepted"]}
    certs = f.get("tls_certificates", [])
    return t, {
        "versions": set(f.get("tls_versions", [])),
        "suites": suites,
        "chain": (len(certs), certs[0]["subject"] if certs else None),
        "expiry": certs[0]["not_after"][:10] if certs else None,
        "client_cert": bool(f.get("tls_client_cert_requested")),
    }


def sslyze(target, runs):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        t, _ = timed(["sslyze", f"--json_out={out}", target], runs)
        doc = json.load(open(out))
    r = doc["server_scan_results"][0]
    sr = r["scan_result"]
    suites = {}
    for key, name in SSLYZE_VERSIONS.items():
        accepted = (sr.get(key) or {}).get("result", {}).get("accepted_cipher_suites", [])
        if accepted:
            suites[name] = {c["cipher_suite"]["name"] for c in accepted}
    chain = sr["certificate_info"]["result"]["certificate_deployments"][0]["received_certificate_chain"]
    auth = (r.get("connectivity_result") or {}).get("client_auth_requirement", "DISABLED")
    return t, {
        "versions": set(suites),
        "suites": suites,
        "chain": (len(chain), chain[0]["subject"]["rfc4514_string"]),
        "expiry": chain[0]["not_valid_after"][:10],
        "client_cert": auth != "DISABLED",
    }


def testssl(target, runs):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        t, _ = timed(["testssl", "--quiet", "--color", "0", "--warnings", "off", "--jsonfile", out, target], runs)
        doc = json.load(open(out))
    by_id = {}
    for x in doc:
        by_id.setdefault(x["id"], x["finding"])
    versions = {name for key, name in TESTSSL_VERSIONS.items() if by_id.get(key, "").startswith("offered")}
    # testssl lists every suite once, not per version: compare the union.
    all_suites = {x["finding"].split()[-1] for x in doc if x["id"].startswith("cipher_x")}
    return t, {
        "versions": versions,
        "suites": {"all versions": all_suites},
        "chain": (int(by_id.get("certs_countServer", "0") or 0), "CN=" + by_id.get("cert_commonName", "?")),
        "expiry": by_id.get("cert_notAfter", "")[:10],
        # testssl.sh has no field for it; it says so in passing when it notices.
        "client_cert": any("certificate-based authentication" in x["finding"] or "x509-based authentication" in x["finding"] for x in doc),
    }


def compare(ours, theirs):
    """Per finding: 'yes', or what differs."""
    rows = {}
    rows["versions"] = "yes" if ours["versions"] == theirs["versions"] else f"no: {sorted(theirs['versions'])}"
    if list(theirs["suites"]) == ["all versions"]:
        mine = set().union(*ours["suites"].values()) if ours["suites"] else set()
        other = theirs["suites"]["all versions"]
        diff = (sorted(other - mine), sorted(mine - other))
        rows["suites"] = "yes (union)" if mine == other else f"no: theirs only {diff[0]}, ours only {diff[1]}"
    else:
        bad = [v for v in set(ours["suites"]) | set(theirs["suites"]) if ours["suites"].get(v, set()) != theirs["suites"].get(v, set())]
        rows["suites"] = "yes" if not bad else f"no at {sorted(bad)}"
    rows["chain"] = "yes" if ours["chain"] == theirs["chain"] else f"no: {theirs['chain']}"
    rows["expiry"] = "yes" if ours["expiry"] == theirs["expiry"] else f"no: {theirs['expiry']}"
    rows["client cert"] = "yes" if ours["client_cert"] == theirs["client_cert"] else f"no: {theirs['client_cert']}"
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    ap.add_argument("--runs", type=int, default=10, help="runs of portproof per target")
    ap.add_argument("--sslyze-runs", type=int, default=3)
    ap.add_argument("--testssl-runs", type=int, default=1)
    a = ap.parse_args()
    if not os.path.exists(PORTPROOF):
        sys.exit(f"build first: cargo build --release ({PORTPROOF} is missing)")
    totals = {"portproof": 0.0, "sslyze": 0.0, "testssl.sh": 0.0}
    for target in a.targets.split(","):
        t_pp, pp = portproof(target, a.runs)
        t_sy, sy = sslyze(target, a.sslyze_runs)
        t_ts, ts = testssl(target, a.testssl_runs)
        totals["portproof"] += t_pp
        totals["sslyze"] += t_sy
        totals["testssl.sh"] += t_ts
        print(f"\n### {target}\n")
        print("| tool | wall time (median) | versions | suites found | agrees with portproof |")
        print("|---|---|---|---|---|")
        n = sum(len(s) for s in pp["suites"].values())
        print(f"| portproof tls | {t_pp * 1000:.1f} ms | {', '.join(sorted(pp['versions']))} | {n} | — |")
        for name, t, f in (("sslyze", t_sy, sy), ("testssl.sh", t_ts, ts)):
            n = sum(len(s) for s in f["suites"].values())
            c = compare(pp, f)
            agree = "; ".join(f"{k}: {v}" for k, v in c.items())
            print(f"| {name} | {t * 1000:.0f} ms | {', '.join(sorted(f['versions']))} | {n} | {agree} |")
    print("\n### Speed\n")
    print(f"portproof {totals['portproof'] * 1000:.1f} ms in all; "
          f"sslyze {totals['sslyze'] / totals['portproof']:.0f}x slower; "
          f"testssl.sh {totals['testssl.sh'] / totals['portproof']:.0f}x slower")


if __name__ == "__main__":
    main()
