#!/usr/bin/env python3
"""Benchmark `conduit watch`: latency from a write to its verified copy, and
the idle cost of serving a large indexed tree.

- single file: write one small file on the source of an instant conduit;
  latency ends when the service reports the run that copied and verified it.
- burst: 100 files written back to back; latency from the last write to the
  report that brings the copied total to 100.
- idle: a tree of IDLE_FILES files, synced once, then served by `conduit
  watch`; CPU time and memory of the service over IDLE_SECONDS without changes.

Writes a table between the watch-bench markers in BENCHMARKS.md.
Environment: RUNS (default 15), BURST_RUNS (5), IDLE_FILES (100000),
IDLE_SECONDS (30), WORK (scratch folder, default a temp folder).
"""

import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONDUIT = REPO / "target" / "release" / "conduit"
RUNS = int(os.environ.get("RUNS", 15))
BURST_RUNS = int(os.environ.get("BURST_RUNS", 5))
IDLE_FILES = int(os.environ.get("IDLE_FILES", 100_000))
IDLE_SECONDS = int(os.environ.get("IDLE_SECONDS", 30))
TIMEOUT = 60.0


class Service:
    """A running `conduit watch --json` whose finished-run reports are queued."""

    def __init__(self, home: Path):
        self.proc = subprocess.Popen(
            [str(CONDUIT), "--home", str(home), "watch", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.runs: "queue.Queue[tuple[float, dict]]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            event = json.loads(line)
            if event.get("event") == "finished":
                self.runs.put((time.monotonic(), event))

    def next_run(self) -> tuple[float, dict]:
        return self.runs.get(timeout=TIMEOUT)

    def drain(self):
        while not self.runs.empty():
            self.runs.get_nowait()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=TIMEOUT)


def conduit(home: Path, *args: str):
    subprocess.run([str(CONDUIT), "--home", str(home), *args], check=True, stdout=subprocess.DEVNULL)


def write(path: Path, data: bytes):
    with open(path, "wb") as f:
        f.write(data)


def latencies(work: Path) -> tuple[list[float], list[float]]:
    home, a, b = work / "lat-home", work / "lat-a", work / "lat-b"
    a.mkdir()
    b.mkdir()
    conduit(home, "add", "lat", str(a), str(b), "--policy", "replicate", "--cadence", "instant")
    service = Service(home)
    service.next_run()  # the startup scan
    single = []
    for i in range(RUNS):
        write(a / f"single-{i}.txt", os.urandom(1024))
        start = time.monotonic()
        while True:
            at, report = service.next_run()
            if report["verified"] >= 1:
                single.append(at - start)
                break
    burst = []
    for r in range(BURST_RUNS):
        service.drain()
        for i in range(100):
            write(a / f"burst-{r}-{i:03}.txt", os.urandom(1024))
        start = time.monotonic()
        copied = 0
        while copied < 100:
            at, report = service.next_run()
            copied += report["verified"]
        burst.append(at - start)
    service.stop()
    return single, burst


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def memory_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def idle(work: Path) -> dict:
    home, a, b = work / "idle-home", work / "idle-a", work / "idle-b"
    for d in range(IDLE_FILES // 100):
        folder = a / f"d{d // 100:03}" / f"e{d % 100:02}"
        folder.mkdir(parents=True)
        for f in range(100):
            write(folder / f"f{f:02}.txt", b"x" * 100)
    b.mkdir()
    conduit(home, "add", "idle", str(a), str(b), "--policy", "replicate", "--cadence", "instant")
    conduit(home, "sync", "idle")
    service = Service(home)
    start = time.monotonic()
    at, _ = service.next_run()
    startup = at - start
    pid = service.proc.pid
    before = cpu_seconds(pid)
    time.sleep(IDLE_SECONDS)
    cpu = cpu_seconds(pid) - before
    result = {
        "startup_scan_s": startup,
        "cpu_pct": 100 * cpu / IDLE_SECONDS,
        "rss_mib": memory_kib(pid, "VmRSS") / 1024,
        "peak_rss_mib": memory_kib(pid, "VmHWM") / 1024,
    }
    service.stop()
    return result


def ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:.0f} ms (min {min(xs) * 1000:.0f}, max {max(xs) * 1000:.0f})"


def main():
    subprocess.run(["cargo", "build", "--release", "-p", "conduit"], cwd=REPO, check=True)
    work = Path(os.environ.get("WORK") or tempfile.mkdtemp(prefix="conduit-watch-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        single, burst = latencies(work)
        quiet = idle(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    table = f"""Run of {date.today()} at commit {commit}, release build, {os.cpu_count()} cores.

| measure | result |
| --- | ---: |
| single small file: write → verified copy reported (median of {RUNS}) | {ms(single)} |
| 100-file burst: last write → all verified (median of {BURST_RUNS}) | {ms(burst)} |
| serving {IDLE_FILES} indexed files: startup full rescan | {quiet['startup_scan_s']:.1f} s |
| serving {IDLE_FILES} indexed files: idle CPU over {IDLE_SECONDS} s | {quiet['cpu_pct']:.2f} % of one core |
| serving {IDLE_FILES} indexed files: memory (RSS / peak) | {quiet['rss_mib']:.0f} MiB / {quiet['peak_rss_mib']:.0f} MiB |
"""
    print(table)
    bench = REPO / "BENCHMARKS.md"
    text = bench.read_text()
    begin, end = "<!-- watch-bench:begin -->", "<!-- watch-bench:end -->"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + begin + "\n" + table + end + rest.split(end, 1)[1]
    else:
        text += f"\n## Live sync: `conduit watch`\n\n`python3 bench/watch_latency.py`\n\n{begin}\n{table}{end}\n"
    bench.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
