"""Cross-language test driver: C, C++, Go, Python and Rust processes on one fleet.

    run.py --agent c=CMD --agent cpp=CMD ... [--only c,go] [--ring N] [--cache N] [--bus N] [--lease-ms MS]
           [--keep-going]

Each CMD is the command line of one language's agent (split like a shell
would); the protocol the agents follow is in README.md next to this file. Runs
the phases ring, cache, bus and lease, each with every language at once, and
exits non-zero naming the writer/reader pair (or the language) that
disagreed. Needs the orbit Python package (it reads the lease audit ring).
"""

from __future__ import annotations

import argparse
import glob
import os
import shlex
import struct
import subprocess
import sys
import threading
import time
from typing import Dict, List

import orbit

LANGS = ["c", "cpp", "go", "python", "rust"]
PHASE_TIMEOUT_S = 90
SUBJECT = "xl.lease"


class Failed(Exception):
    pass


def parse_ok(line: str) -> Dict[str, str]:
    """'OK ring go c=1 cpp=2' -> {'c': '1', 'cpp': '2'}"""
    return dict(tok.split("=", 1) for tok in line.split()[3:] if "=" in tok)


class Run:
    def __init__(self, agents: Dict[str, List[str]], langs: List[str]) -> None:
        self.agents, self.langs = agents, langs
        self.fleet = f"xl{os.getpid()}"
        self.failures: List[str] = []

    def spawn(self, phase: str, n: int) -> Dict[str, subprocess.Popen]:
        procs = {}
        for lang in self.langs:
            cmd = self.agents[lang] + [phase, self.fleet, lang, str(n), ",".join(self.langs)]
            procs[lang] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return procs

    def collect(self, phase: str, procs: Dict[str, subprocess.Popen]) -> Dict[str, Dict[str, str]]:
        """Waits for every agent; returns each one's OK fields, records failures."""
        results = {}
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        for lang, p in procs.items():
            try:
                out, err = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                self.failures.append(f"{phase}: the {lang} agent did not finish within {PHASE_TIMEOUT_S} s")
            for line in out.splitlines():
                if line.startswith("FAIL"):
                    self.failures.append(line)
                elif line.startswith(f"OK {phase} {lang}"):
                    results[lang] = parse_ok(line)
            if p.returncode != 0:
                tail = " | ".join(err.strip().splitlines()[-5:])
                self.failures.append(f"{phase}: the {lang} agent exited with status {p.returncode}"
                                     + (f"; stderr: {tail}" if tail else ""))
            elif lang not in results:
                self.failures.append(f"{phase}: the {lang} agent printed no result")
        return results

    def check_pairs(self, phase: str, results: Dict[str, Dict[str, str]], n: int, writer: str, reader: str) -> None:
        for r, fields in results.items():
            for w in self.langs:
                got = int(fields.get(w, -1))
                if got != n:
                    self.failures.append(f"{phase}: {writer}={w} {reader}={r}: received {got} of {n}")

    def phase_ring(self, n: int) -> str:
        res = self.collect("ring", self.spawn("ring", n))
        self.check_pairs("ring", res, n, "writer", "reader")
        return f"{len(self.langs)} writers x {n} frames, {len(res)} readers"

    def phase_cache(self, n: int) -> str:
        res = self.collect("cache", self.spawn("cache", n))
        self.check_pairs("cache", res, n, "writer", "reader")
        want = n * sum(range(1, len(self.langs) + 1))
        for lang, fields in res.items():
            if int(fields.get("counter", -1)) != want:
                self.failures.append(f"cache: {lang} read the counter as {fields.get('counter')}, want {want}")
        with orbit.Fleet.join(self.fleet, label="driver") as f, f.cache("xl.cache") as c:
            final = int.from_bytes(c.get("xl.counter", b""), "little", signed=True)
        if final != want:
            self.failures.append(f"cache: the counter ends at {final}, want {want}")
        return f"{len(self.langs)} x {n} keys read back by every language; incr from all ends at {final} (exact)"

    def phase_bus(self, n: int) -> str:
        res = self.collect("bus", self.spawn("bus", n))
        self.check_pairs("bus", res, n, "publisher", "subscriber")
        return f"{len(self.langs)} publishers x {n} events, {len(res)} subscribers"

    def phase_lease(self, ms: int) -> str:
        with orbit.Fleet.join(self.fleet, label="driver") as f:
            # Creates the lease table and its audit ring, so we can follow it from the start.
            with f.claim(SUBJECT, 1000):
                pass
            audit = f.ring("contest.leases").cursor(orbit.FROM_HEAD)
            procs = self.spawn("lease", ms)
            pid_lang = {p.pid: lang for lang, p in procs.items()}
            records = []
            done = threading.Event()
            results: Dict[str, Dict[str, str]] = {}

            def wait_agents() -> None:
                results.update(self.collect("lease", procs))
                done.set()

            t = threading.Thread(target=wait_agents)
            t.start()
            while not done.is_set():
                audit.wait(0.05)
                records.extend(audit)
            t.join()
            records.extend(audit)
            lost = audit.lost
        return self.check_lease(results, records, lost, pid_lang)

    def check_lease(self, results, records, lost: int, pid_lang: Dict[int, str]) -> str:
        tokens = {lang: [int(t) for t in r.get("tokens", "").split(",") if t] for lang, r in results.items()}
        owner: Dict[int, str] = {}
        for lang, ts in tokens.items():
            if not ts:
                self.failures.append(f"lease: {lang} was never granted the lease")
            for tok in ts:
                if tok in owner:
                    self.failures.append(f"lease: token {tok} granted to both {owner[tok]} and {lang}")
                owner[tok] = lang
        claims = []
        ordered = True
        for fr in records:
            token, _exp, pid, _prev, slen = struct.unpack_from("<QQIBB", fr.payload)
            if fr.payload[24:24 + slen].decode() != SUBJECT or fr.kind != 1:
                continue
            lang = pid_lang.get(pid, f"pid {pid}")
            if claims and token <= claims[-1][0]:
                ordered = False
                self.failures.append(f"lease: audit shows token {token} ({lang}) granted after {claims[-1][0]} "
                                     f"({claims[-1][1]})")
            if owner.get(token) != lang:
                self.failures.append(f"lease: audit shows token {token} granted to {lang}, "
                                     f"reported by {owner.get(token, 'nobody')}")
            claims.append((token, lang))
        if lost == 0:
            missing = sorted(set(owner) - {t for t, _ in claims})
            if missing:
                self.failures.append(f"lease: grants missing from the audit: {missing[:10]}")
        grants = " ".join(f"{lang}={len(ts)}" for lang, ts in tokens.items())
        note = f", audit lost {lost} records" if lost else ""
        order = ", tokens strictly increasing" if ordered else ", tokens OUT OF ORDER"
        return f"grants {grants}; {len(claims)} grants in the audit{order}{note}"

    def cleanup(self) -> None:
        for path in glob.glob(f"/dev/shm/orbit:{os.geteuid()}:{self.fleet}:*"):
            try:
                os.unlink(path)
            except OSError:
                pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", action="append", default=[], metavar="LANG=CMD")
    ap.add_argument("--only", help="comma-separated subset of languages")
    ap.add_argument("--ring", type=int, default=5000, help="frames per writer (5 x at most 32768)")
    ap.add_argument("--cache", type=int, default=1000, help="keys and incr calls per language")
    ap.add_argument("--bus", type=int, default=2000, help="events per publisher (5 x 1.1 x at most 16384)")
    ap.add_argument("--lease-ms", type=int, default=2000, help="how long all contend for the lease")
    ap.add_argument("--keep-going", action="store_true", help="run the later phases after a failed one")
    a = ap.parse_args()
    agents = {}
    for spec in a.agent:
        lang, _, cmd = spec.partition("=")
        agents[lang] = shlex.split(cmd)
    langs = a.only.split(",") if a.only else LANGS
    missing = [lang for lang in langs if lang not in agents]
    if missing:
        ap.error(f"no --agent for {', '.join(missing)}")
    run = Run(agents, langs)
    print(f"crosslang: fleet {run.fleet}, languages {', '.join(langs)}", flush=True)
    start = time.monotonic()
    phases = [("ring", run.phase_ring, a.ring), ("cache", run.phase_cache, a.cache),
              ("bus", run.phase_bus, a.bus), ("lease", run.phase_lease, a.lease_ms)]
    try:
        for name, fn, n in phases:
            t0 = time.monotonic()
            before = len(run.failures)
            summary = fn(n)
            verdict = "ok" if len(run.failures) == before else "FAILED"
            print(f"  {name:<6} {verdict:<6} {time.monotonic() - t0:5.1f} s  {summary}", flush=True)
            for f in run.failures[before:]:
                print(f"    {f}", flush=True)
            if len(run.failures) > before and not a.keep_going:
                break  # later phases would wait out barriers the failed agents never reach
    finally:
        run.cleanup()
    total = time.monotonic() - start
    if run.failures:
        print(f"crosslang: {len(run.failures)} failure(s) in {total:.1f} s", flush=True)
        return 1
    print(f"crosslang: all phases passed in {total:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
