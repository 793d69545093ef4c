"""bench/run's report: medians of the repetitions, the table with the ratios
the targets are about, the plots (gnuplot) and the CSV files. Each takes
bench/run's Bench as b: its arguments, rows, notes, failures, output.
"""

from __future__ import annotations

import csv
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

from benchparts import cpus

def med(rows: List[dict], key: str) -> Optional[float]:
    vals = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
    return statistics.median(vals) if vals else None


def fmt(x: Optional[float], digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def summarize(b) -> List[dict]:
    groups: Dict[tuple, List[dict]] = {}
    for r in b.rows:
        groups.setdefault((r["group"], r["case"]), []).append(r)
    summary = []
    for (g, c), rows in groups.items():
        s = {"group": g, "case": c, "reps": len(rows)}
        for key in ("delivered", "rate_wall", "rate_cpu", "joins_wall", "joins_cpu",
                    "p50_first_ms", "p99_first_ms", "p50_last_ms", "p99_last_ms", "p50_ms",
                    "p99_ms", "cpu_prosody_per_1k", "cpu_ejabberd_per_1k",
                    "cpu_component_per_1k", "driver_cpu_s", "wall_s", "cpu_s", "hwm_kib",
                    "rss_kib", "offered"):
            v = med(rows, key)
            if v is not None:
                s[key] = v
        summary.append(s)
    return summary


def capacity(s: dict, host: str) -> Optional[float]:
    """Deliveries per second the server and the room component could
    sustain together on one core of their own: robust to other load on the
    machine, which shows in msgs/s but hardly in CPU per delivery."""
    cpu = s.get(f"cpu_{host}_per_1k", 0) + s.get("cpu_component_per_1k", 0)
    return 1000 / cpu if cpu > 0 else None


def find(summary, g, c) -> dict:
    for s in summary:
        if s["group"] == g and s["case"] == c:
            return s
    return {}


def e2e_tables(b, summary: List[dict], host: str) -> List[str]:
    """The host's saturated table, then its fixed-load table."""
    out: List[str] = []
    rows = [s for s in summary if s["group"] == host]
    if not rows:
        return out
    out.append(f"End to end through {host} ({b.args.users} clients, 1 sender, "
               f"window {b.args.window})")
    out.append(f"  {'case':<20}{'msgs/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
               f"{'server CPU s/1k':>17}{'comp CPU s/1k':>15}{'capacity/s':>12}"
               f"{'client CPU s':>14}")
    for s in rows:
        out.append(f"  {s['case']:<20}{fmt(s.get('rate_wall')):>10}"
                   f"{fmt(s.get('p50_ms'), 2):>9}{fmt(s.get('p99_ms'), 2):>9}"
                   f"{fmt(s.get(f'cpu_{host}_per_1k'), 4):>17}"
                   f"{fmt(s.get('cpu_component_per_1k'), 4):>15}"
                   f"{fmt(capacity(s, host)):>12}"
                   f"{fmt(s.get('driver_cpu_s'), 2):>14}")
    out.append("  capacity: 1000 / (server + component CPU s per 1k): messages/s the pair "
               "could deliver with CPU 0 to itself; -x: one stanza per message through "
               "the host's fan-out expander")
    out.append("")
    load = [s for s in summary if s["group"] == f"{host}-load"]
    if load:
        out.append(f"Through {host} at a fixed offered load "
                   f"({fmt(load[0].get('offered'))} msgs/s, below every case's saturation)")
        out.append(f"  {'case':<20}{'msgs/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
                   f"{'server CPU s/1k':>17}{'comp CPU s/1k':>15}")
        for s in load:
            out.append(f"  {s['case']:<20}{fmt(s.get('rate_wall')):>10}"
                       f"{fmt(s.get('p50_ms'), 2):>9}{fmt(s.get('p99_ms'), 2):>9}"
                       f"{fmt(s.get(f'cpu_{host}_per_1k'), 4):>17}"
                       f"{fmt(s.get('cpu_component_per_1k'), 4):>15}")
        out.append("")
    return out


def targets(summary: List[dict], mem: List[dict]) -> List[str]:
    """The lines of the Targets section: met or MISSED, with the figures."""
    t: List[str] = []

    def target(name, value, goal, ok):
        if value is None:
            t.append(f"  {name}: not measured")
        else:
            t.append(f"  {name}: {value} (target {goal}): {'met' if ok else 'MISSED'}")

    a = find(summary, "alone", "msg1000")
    if a:
        target("component alone, 1000-occupant room, delivered/CPU s",
               fmt(a.get("rate_cpu")), ">= 250,000", a.get("rate_cpu", 0) >= 250000)
    m = mem[0] if mem else None
    if m and m["case"].startswith("10000"):
        target("RSS at 100k occupants", f"{m['hwm_kib'] / 1024:.1f} MiB", "< 512 MiB",
               m["hwm_kib"] < 512 * 1024)
    for n in (10, 100):
        on, off = (find(summary, "safety", f"msg{n}-ratelimit-{x}") for x in ("on", "off"))
        if on and off:
            r, rc = on["rate_wall"] / off["rate_wall"], on["rate_cpu"] / off["rate_cpu"]
            target(f"limits on / off, {n}-occupant room",
                   f"{r:.2f}x measured, {rc:.2f}x per CPU s", ">= 0.7x",
                   r >= 0.7 and rc >= 0.7)

    def ratio(name, a, b, host, goal, ok):
        # Measured rates and the CPU-derived capacities, side by side.
        if not a.get("rate_wall") or not b.get("rate_wall"):
            target(name, None, goal, False)  # a case that delivered nothing
            return
        r = a["rate_wall"] / b["rate_wall"]
        ca, cb = capacity(a, host), capacity(b, host)
        rc = ca / cb if ca and cb else None
        target(name, f"{r:.2f}x measured, " + (f"{rc:.2f}x by capacity" if rc else "-"), goal,
               ok(r) and (rc is None or ok(rc)))

    def stoa(host: str, archive: bool = False):
        """The Stoa case a target is about: through the expander when that
        path was measured, else per copy."""
        for n in (("stoa-archive-x", "stoa-archive") if archive else ("stoa-x", "stoa")):
            if find(summary, host, n):
                return n, find(summary, host, n)
        return None, {}

    for host, name in (("prosody", "Prosody"), ("ejabberd", "ejabberd")):
        n, st = stoa(host)
        na, sta = stoa(host, archive=True)
        mm, mam = find(summary, host, "mod_muc"), find(summary, host, "mod_muc-mam")
        for path in ("", "-x"):
            s_, e_ = find(summary, host, "stoa" + path), find(summary, host, "echo" + path)
            if s_ and e_:
                ratio(f"stoa{path} / echo{path} ceiling through {name}", s_, e_, host,
                      ">= 0.95x", lambda r: r >= 0.95)
        mc = find(summary, host, "mu-conference")
        if st and mc:
            ratio(f"{n} / MU-Conference through {name}", st, mc, host, "> 1x", lambda r: r > 1)
        # Issue 13: past 0.8x of Prosody's bare MUC, at least 0.9x of ejabberd's.
        if host == "prosody":
            goal_off, ok_off = "> 0.8x", lambda r: r > 0.8
        else:
            goal_off, ok_off = ">= 0.9x", lambda r: r >= 0.9
        if st and mm:
            ratio(f"{n} / {name} mod_muc, archiving off", st, mm, host, goal_off, ok_off)
        goal_on = 1.0 if host == "prosody" else 3.0
        if sta and mam:
            ratio(f"{na} / {name} mod_muc-mam, archiving on both sides", sta, mam, host,
                  f">= {goal_on}x", lambda r, g=goal_on: r >= g)
        if st and mm and host == "ejabberd":
            target(f"{n} / {name} mod_muc p99, saturated",
                   f"{st['p99_ms']:.2f} vs {mm['p99_ms']:.2f} ms", "<=",
                   st["p99_ms"] <= mm["p99_ms"])
        ls, lm = find(summary, f"{host}-load", n), find(summary, f"{host}-load", "mod_muc")
        if ls and lm:
            target(f"{n} / {name} mod_muc p99 at a fixed load",
                   f"{ls['p99_ms']:.2f} vs {lm['p99_ms']:.2f} ms", "<=",
                   ls["p99_ms"] <= lm["p99_ms"])
        if st and "cpu_component_per_1k" in st:
            r = st["cpu_component_per_1k"] / st[f"cpu_{host}_per_1k"]
            target(f"{n} CPU / {name} CPU per delivered stanza", f"{r:.3f}", "< 0.1", r < 0.1)
    return t


def report(b, summary: List[dict]) -> List[str]:
    out = []
    where = ("servers and components pinned to CPU 0, load drivers to CPU 1"
             if cpus() >= 2 else "everything on one CPU (no pinning)")
    out.append(f"Stoa benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
               f"{os.uname().nodename}, {cpus()} CPUs; {where}; medians of {b.args.reps} "
               f"repetition(s), {b.args.seconds} s each")
    out.append("")
    alone = [s for s in summary if s["group"] in ("alone", "safety")]
    if alone:
        out.append("Component alone (compdrive <-> stoa-component over XEP-0114)")
        out.append(f"  {'case':<18}{'delivered/s':>13}{'per CPU s':>13}"
                   f"{'p50 ms':>9}{'p99 ms':>9}{'peak RSS MiB':>14}")
        for s in alone:
            p50 = s.get("p50_last_ms", s.get("p50_ms"))
            p99 = s.get("p99_last_ms", s.get("p99_ms"))
            name = f"{s['group']}/{s['case']}" if s["group"] == "safety" else s["case"]
            out.append(f"  {name:<18}{fmt(s.get('rate_wall')):>13}{fmt(s.get('rate_cpu')):>13}"
                       f"{fmt(p50, 2):>9}{fmt(p99, 2):>9}"
                       f"{fmt((s.get('hwm_kib') or 0) / 1024, 1):>14}")
            if s["case"] == "join":
                out.append(f"  {'  (joins)':<18}{fmt(s.get('joins_wall')):>13}"
                           f"{fmt(s.get('joins_cpu')):>13}")
        out.append("  msg: p50/p99 to the last copy of the room's fan-out; "
                   "disco: per query")
        out.append("")
    mem = [s for s in summary if s["group"] == "memory"]
    for s in mem:
        out.append(f"Memory: {s['case']} occupants: VmHWM {fmt(s['hwm_kib'] / 1024, 1)} MiB, "
                   f"VmRSS {fmt(s['rss_kib'] / 1024, 1)} MiB")
        out.append("")
    for host in ("prosody", "ejabberd"):
        out.extend(e2e_tables(b, summary, host))
    out.extend(b.notes)
    out.append("")
    out.append("Targets")
    out.extend(targets(summary, mem))
    if b.failures:
        out.append("")
        out.append("FAILED")
        out.extend(f"  {f}" for f in b.failures)
    return out


PLOT = """
set terminal pngcairo size 900,520 noenhanced
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set grid ytics
set key top left
set datafile separator ","
set xtics rotate by -20
"""


def plot(b, summary: List[dict]) -> None:
    if not shutil.which("gnuplot"):
        b.notes.append("plots: gnuplot not installed (scripts/deps installs gnuplot-nox)")
        return
    jobs = []
    alone = [s for s in summary if s["group"] == "alone" and "rate_cpu" in s]
    if alone:
        f = b.out / "alone.csv"
        f.write_text("case,wall,cpu\n" + "".join(
            f"{s['case']},{s['rate_wall']:.0f},{s['rate_cpu']:.0f}\n" for s in alone))
        jobs.append(f"""set output '{b.out}/alone.png'
set title 'stoa-component alone: delivered stanzas per second'
set ylabel 'stanzas/s'
plot '{f}' using 2:xtic(1) skip 1 title 'per wall-clock s', '' using 3 skip 1 title 'per CPU s'
""")
    for host in ("prosody", "ejabberd"):
        rows = [s for s in summary if s["group"] == host and "rate_wall" in s]
        if not rows:
            continue
        f = b.out / f"e2e-{host}.csv"
        f.write_text("case,rate,server,comp,p99\n" + "".join(
            f"{s['case']},{s['rate_wall']:.0f},{s.get(f'cpu_{host}_per_1k', 0):.4f},"
            f"{s.get('cpu_component_per_1k', 0):.4f},{s.get('p99_ms', 0):.2f}\n" for s in rows))
        jobs.append(f"""set output '{b.out}/e2e-{host}-rate.png'
set title 'End to end through {host}: messages delivered per second ({b.args.users} clients)'
set ylabel 'messages/s'
plot '{f}' using 2:xtic(1) skip 1 title 'delivered/s'
set output '{b.out}/e2e-{host}-cpu.png'
set title 'CPU seconds per 1,000 delivered messages through {host}'
set ylabel 'CPU s / 1000'
plot '{f}' using 3:xtic(1) skip 1 title '{host}', '' using 4 skip 1 title 'room component'
""")
    if not jobs:
        return
    script = b.out / "plots.gp"
    script.write_text(PLOT + "\n".join(jobs))
    r = subprocess.run(["gnuplot", str(script)], capture_output=True, text=True)
    if r.returncode != 0:
        b.fail("plots", r.stderr)


def write_csv(path: Path, rows: List[dict]) -> None:
    keys: List[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow(r)
