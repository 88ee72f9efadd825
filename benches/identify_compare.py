#!/usr/bin/env python3
"""portproof identify against nmap -sV on the same ports, in the same run.

Both tools are pointed at the real daemons the test scripts start (bash testbeds/scripts/up.sh)
on 127.0.0.1; each names what it finds. The table shows, per port, what each named (portproof:
the protocol its probe proved and the evidence; nmap: service, product and version), and the
wall time of each tool over all the ports, with the ratio. Needs nmap (apt-get install nmap) and
a release build (cargo build --release).

    python3 benches/identify_compare.py [--rounds 3]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

# The real peers: what runs there, as the test scripts start it.
PEERS = [
    (3306, "MariaDB"),
    (5432, "PostgreSQL"),
    (5672, "RabbitMQ AMQP"),
    (15672, "RabbitMQ management"),
    (1883, "Mosquitto"),
    (18883, "Mosquitto (password)"),
    (18884, "Mosquitto (TLS)"),
    (18080, "nginx"),
    (18443, "nginx (TLS)"),
    (11099, "JDK RMI registry + JMX"),
    (11097, "JDK RMI registry"),
    (14840, "asyncua OPC UA (shifted port)"),
    (15020, "pymodbus (shifted port)"),
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("PORTPROOF_BIN") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "portproof"
)


def listening(port):
    import socket

    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def run_portproof(ports):
    t = time.monotonic()
    out = subprocess.run(
        [BIN, "identify", "127.0.0.1:" + ",".join(map(str, ports)), "--format", "json"],
        capture_output=True, text=True,
    )
    took = time.monotonic() - t
    found = {}
    for f in json.loads(out.stdout):
        port = int(f["target"].rsplit(":", 1)[1])
        name = f.get("protocol") or (f"heard {f['heard']}" if f.get("heard") else "-")
        found[port] = (name, ", ".join(f.get("evidence", []))[:60])
    return took, found


def run_nmap(ports):
    t = time.monotonic()
    out = subprocess.run(
        ["nmap", "-sV", "-Pn", "-n", "-p", ",".join(map(str, ports)), "-oX", "-", "127.0.0.1"],
        capture_output=True, text=True,
    )
    took = time.monotonic() - t
    found = {}
    for p in ET.fromstring(out.stdout).iter("port"):
        s = p.find("service")
        port = int(p.get("portid"))
        if s is None:
            found[port] = ("-", "")
            continue
        name = s.get("name", "-") + ("/ssl" if s.get("tunnel") == "ssl" else "")
        found[port] = (name, " ".join(x for x in (s.get("product"), s.get("version")) if x)[:60])
    return took, found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} is missing: cargo build --release")
    peers = [(p, what) for p, what in PEERS if listening(p)]
    missing = [what for p, what in PEERS if (p, what) not in peers]
    if missing:
        print("not running (skipped):", ", ".join(missing))
    ports = [p for p, _ in peers]
    load0 = os.getloadavg()[0]
    pp_times, nm_times = [], []
    for _ in range(a.rounds):
        t, pp = run_portproof(ports)
        pp_times.append(t)
        t, nm = run_nmap(ports)
        nm_times.append(t)
    print(f"{'port':>6}  {'what runs there':<30} {'portproof identify':<40} {'nmap -sV':<40}")
    for port, what in peers:
        p, n = pp.get(port, ("?", "")), nm.get(port, ("?", ""))
        print(f"{port:>6}  {what:<30} {(p[0] + ' ' + p[1])[:40]:<40} {(n[0] + ' ' + n[1])[:40]:<40}")
    pm, nmm = statistics.median(pp_times), statistics.median(nm_times)
    print(f"\n{len(ports)} ports, {a.rounds} rounds, median wall time: portproof {pm:.2f} s, nmap -sV {nmm:.2f} s,"
          f" ratio nmap/portproof {nmm / pm:.1f}x (load {load0:.1f} -> {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
