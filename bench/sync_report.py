#!/usr/bin/env python3
"""Render bench/sync.sh's results as Markdown and put them into BENCHMARKS.md.

    sync_report.py WORK BENCHMARKS.md [--print]

WORK holds results.tsv, meta.tsv and logs/ (conduit's phase timings). The
section between the sync-bench markers is replaced; without markers, a new
section is appended. --print writes the section to stdout only.
"""

import csv
import json
import re
import sys
from pathlib import Path

BEGIN, END = "<!-- sync-bench:begin -->", "<!-- sync-bench:end -->"
HEADING = "## Sync vs. rsync, rclone, cp and unison\n\n`bench/sync.sh` (`BENCH_QUICK=1 bench/sync.sh` for a smoke test)\n\n"
TREES = {"small": "many small files", "large": "large files"}
# The conduit run each scenario's rows are compared with.
REFERENCE = {
    "initial copy": "conduit replicate",
    "no-op re-run": "conduit replicate",
    "two-way initial": "conduit synchronize",
    "two-way no-op": "conduit synchronize",
}
PHASES = ("scanned", "diffed", "planned", "executed")


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "—"


def load(work: Path):
    rows = list(csv.DictReader(open(work / "results.tsv"), delimiter="\t"))
    for r in rows:
        r["wall"] = float(r["wall_s"])
        r["flush"] = float(r["flush_s"])
        r["rss"] = int(r["peak_rss_kb"]) / 1024
    meta = dict(line.rstrip("\n").split("\t", 1) for line in open(work / "meta.tsv"))
    return rows, meta


def wall(rows, tree, scenario, tool):
    for r in rows:
        if (r["tree"], r["scenario"], r["tool"]) == (tree, scenario, tool):
            return r
    return None


def results_table(rows) -> list[str]:
    out = [
        "| tree | scenario | tool | wall s | conduit ÷ tool | flush after, s | peak RSS MiB |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for tree in TREES:
        for scenario, reference in REFERENCE.items():
            ref = wall(rows, tree, scenario, reference)
            for r in rows:
                if (r["tree"], r["scenario"]) != (tree, scenario):
                    continue
                shown = "—" if r is ref or ref is None else ratio(ref["wall"], r["wall"])
                out.append(
                    f"| {tree} | {scenario} | {r['tool']} | {r['wall']:.2f} | {shown} "
                    f"| {r['flush']:.2f} | {r['rss']:.0f} |"
                )
            if scenario == "no-op re-run" and wall(rows, tree, "initial copy", "cp -a"):
                out.append(f"| {tree} | {scenario} | cp -a | n/a | n/a | n/a | n/a |")
    return out


def targets(rows) -> list[str]:
    """The performance targets of docs/architecture.md that this run measures, met or not."""
    out = []

    def check(tree, scenario, ours, theirs, limit, text, as_throughput=False):
        a, b = wall(rows, tree, scenario, ours), wall(rows, tree, scenario, theirs)
        if not (a and b and a["wall"] > 0 and b["wall"] > 0):
            return
        if as_throughput:
            value, flushed = b["wall"] / a["wall"], (b["wall"] + b["flush"]) / a["wall"]
            met = value >= limit
        else:
            value, flushed = a["wall"] / b["wall"], a["wall"] / (b["wall"] + b["flush"])
            met = value <= limit
        out.append(
            f"- {text}: **{value:.2f}**, {'met' if met else '**not met**'} "
            f"(against {theirs} plus its flush: {flushed:.2f})"
        )

    check("small", "initial copy", "conduit replicate", "rsync -a", 1.0,
          "initial mirror of many small files, conduit ÷ rsync -a ≤ 1")
    check("small", "no-op re-run", "conduit replicate", "rsync -a", 1.0,
          "no-op re-sync of many small files, conduit ÷ rsync -a ≤ 1")
    check("large", "initial copy", "conduit replicate", "cp -a", 0.9,
          "large files, conduit's throughput ÷ cp -a's ≥ 0.9", as_throughput=True)
    check("small", "two-way initial", "conduit synchronize", "unison -batch", 0.25,
          "two-way first sync of many small files, conduit ÷ unison ≤ 0.25")
    return out


def phases(work: Path, rows) -> list[str]:
    """Conduit's own phase timings (CONDUIT_LOG=conduit=info) per run."""
    out = [
        "| tree | run | scan ms | diff ms | plan ms | execute ms | duration_ms | process wall ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        if not r["tool"].startswith("conduit"):
            continue
        log = work / "logs" / f"{r['tree']}.{r['scenario'].replace(' ', '-')}.conduit"
        ms = {}
        for line in open(f"{log}.err"):
            m = re.search(r" (\w+) conduit=.* ms=(\d+)", line)
            if m and m.group(1) in PHASES:
                ms[m.group(1)] = m.group(2)
        duration = json.load(open(f"{log}.out"))["duration_ms"]
        cells = " | ".join(ms.get(p, "—") for p in PHASES)
        out.append(
            f"| {r['tree']} | {r['tool'].split()[1]} {r['scenario']} | {cells} "
            f"| {duration} | {r['wall'] * 1000:.0f} |"
        )
    return out


def render(work: Path) -> str:
    rows, m = load(work)
    cache = (
        "page cache dropped before every timed run"
        if m["cache"] == "cold"
        else "**warm page cache** (dropping it was not permitted)"
    )
    dirty = " plus uncommitted changes in the working tree" if m["dirty"] == "yes" else ""
    lines = [
        f"Run of {m['date']} at commit {m['commit']}{dirty}, release build.",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory']}, {m['filesystem']}, "
        f"Linux {m['kernel']}; {cache}.",
        f"The machine is shared: other agents compiled and tested on the same cores during "
        f"the run (load average {m['load']}), so single runs here vary by tens of percent.",
        f"Trees: small = {m['small']} (sizes spread log-normally, "
        f"nested folders); large = {m['large']}. Contents random. One run per cell.",
        f"Versions: {m['versions']}.",
        "",
        *results_table(rows),
        "",
        "\"conduit ÷ tool\" is conduit's wall time divided by the tool's, against conduit "
        "replicate for one-way rows and conduit synchronize for two-way rows: below 1, conduit "
        "was faster. \"flush after\" is how long a `sync` took right after the run: conduit "
        "makes every file durable and re-reads it against its BLAKE3 before it reports, while "
        "rsync, rclone, cp and unison leave dirty pages behind (rclone does compare an MD5 "
        "after each copy). Peak RSS is that of the largest single process (rsync runs three).",
        "",
        "Targets (docs/architecture.md, performance targets) this run measures:",
        "",
        *targets(rows),
        "",
        "Conduit's phases (from `CONDUIT_LOG=conduit=info`); the difference between "
        "duration_ms and the process's wall time is start-up and opening the index:",
        "",
        *phases(work, rows),
    ]
    return "\n".join(lines) + "\n"


def splice(doc: str, section: str) -> str:
    block = f"{BEGIN}\n{section}{END}"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        return head + block + rest.split(END, 1)[1]
    return doc.rstrip("\n") + "\n\n" + HEADING + block + "\n"


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    work, target = Path(sys.argv[1]), Path(sys.argv[2])
    section = render(work)
    if "--print" in sys.argv:
        print(section)
        return
    target.write_text(splice(target.read_text(), section))
    print(section)
    print(f"written to {target}", file=sys.stderr)


if __name__ == "__main__":
    main()
