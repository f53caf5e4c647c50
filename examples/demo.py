#!/usr/bin/env python3
"""The `make demo` driver: a fleet of real processes in C, Python and Go on one
host, one of them killed with SIGKILL mid-run, and the fleet carrying on.

    python3 examples/demo.py --stage stage --bin build/demo

Every worker (examples/c/demo_worker.c, examples/python/demo_worker.py,
examples/go/demo_worker/main.go: one protocol, written down in the C file)
joins the fleet, writes CRC-checked frames to the ring "events", reads and
checks every frame the others write, counts in the cache "state" and runs for
leader (the lease "leader", 800 ms TTL); the leader publishes CRC-checked
ticks with its fencing token on the bus "news", which everyone reads back. This script only watches and steers through the
`orbit` command line: it kills the leader with SIGKILL, shows its node go
dead and the lease move to another process with a higher token, stops the
others through the cache, prints what each one saw, and cleans up.
Exits 0 when every check holds, 1 otherwise; about 10 seconds.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

T0 = time.monotonic()


def say(line=""):
    print(line, flush=True)


def stamp(line):
    say(f"  {time.monotonic() - T0:5.2f}s  {line}")


class Demo:
    def __init__(self, stage, bin_dir, hold):
        self.hold = hold
        self.cli_path = os.path.join(stage, "bin", "orbit")
        self.stage = stage
        self.bin_dir = bin_dir
        self.fleet = f"demo-{os.getpid()}"
        self.workers = {}  # label -> dict(proc, lang, summary, killed)
        self.checks = []

    # --- the command line -------------------------------------------------
    def cli(self, *args, show=False, check=True):
        p = subprocess.run([self.cli_path, *args], capture_output=True, text=True, timeout=30)
        if show:
            say(f"$ orbit {' '.join(args)}")
            for line in p.stdout.rstrip("\n").splitlines():
                say(f"    {line}")
        if check and p.returncode != 0:
            raise SystemExit(f"demo: orbit {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
        return p

    def members(self):
        return json.loads(self.cli("members", self.fleet, "--json").stdout)

    def leader(self):
        """(label, token) of the lease "leader"'s holder, or None."""
        p = self.cli("stat", self.fleet, "leases", "--json", "--interval", "10ms", check=False)
        if p.returncode != 0:
            return None
        holders = (json.loads(p.stdout).get("leases") or {}).get("holders", [])
        for h in holders:
            if h["subject"] == "leader":
                label = next((l for l, w in self.workers.items() if w["pid"] == h["pid"]), None)
                return (label, h["token"]) if label else None
        return None

    def counter(self, key):
        p = self.cli("cache", "get", self.fleet, "state", key, "--int", check=False)
        return int(p.stdout) if p.returncode == 0 else 0

    def check(self, ok, text):
        self.checks.append((ok, text))

    # --- workers ----------------------------------------------------------
    def spawn(self, label, lang, argv, env=None):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, **(env or {})})
        w = dict(proc=proc, lang=lang, summary=None, killed=False, pid=proc.pid, terms=0)
        self.workers[label] = w

        def pump():
            for line in proc.stdout:
                line = line.rstrip("\n")
                if line.startswith("SUMMARY "):
                    w["summary"] = json.loads(line[len("SUMMARY "):])
                elif line:
                    if "became the leader" in line:
                        w["terms"] += 1
                    stamp(line)

        w["pump"] = threading.Thread(target=pump, daemon=True)
        w["pump"].start()

    def start_workers(self):
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        lib = os.path.join(self.stage, "lib")
        c_worker = os.path.join(self.bin_dir, "demo_worker")
        go_worker = os.path.join(self.bin_dir, "go_demo_worker")
        self.spawn("c-1", "C", [c_worker, self.fleet, "c-1"])
        self.spawn("py-1", "Python", [sys.executable, os.path.join(repo, "examples/python/demo_worker.py"),
                                      self.fleet, "py-1"],
                   env=dict(ORBIT_LIBRARY=os.path.join(lib, "liborbit.so"),
                            PYTHONPATH=os.path.join(repo, "bindings/python")))
        if os.access(go_worker, os.X_OK):
            self.spawn("go-1", "Go", [go_worker, self.fleet, "go-1"], env=dict(LD_LIBRARY_PATH=lib))
        else:
            stamp("(no Go toolchain: the Go worker sits this one out)")
        self.spawn("c-2", "C", [c_worker, self.fleet, "c-2"])

    def wait_until(self, what, predicate, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = predicate()
            if value:
                return value
            for label, w in self.workers.items():
                if not w["killed"] and w["proc"].poll() is not None:
                    raise SystemExit(f"demo: worker {label} exited with {w['proc'].returncode} while waiting for {what}")
            time.sleep(0.05)
        raise SystemExit(f"demo: {what} did not happen within {timeout} s")

    # --- the story ----------------------------------------------------------
    def run(self):
        say(f"== orbit demo: fleet {self.fleet}, processes in C, Python and Go sharing memory ==")
        say("Each worker writes a CRC-32-checked frame to ring `events` every 10 ms, reads back and checks")
        say("everyone's frames, counts its writes in cache `state` and runs for leader (lease `leader`, 800 ms")
        say("TTL); the leader publishes ticks carrying its fencing token on bus `news`, which everyone checks.")
        say("The leader will be killed with SIGKILL.")
        say()
        say(f"Watch it live from another terminal: {self.cli_path} top {self.fleet}")
        say("(`make demo DEMO_ARGS='--hold 30'` keeps the fleet running 30 s before and after the kill.)")
        say()
        self.start_workers()
        labels = set(self.workers)
        self.wait_until("every worker joining",
                        lambda: {m["label"] for m in self.members() if m["state"] == "alive"} >= labels, 15)
        leader = self.wait_until("an election", self.leader, 10)
        time.sleep(self.hold)
        say()
        self.cli("members", self.fleet, show=True)
        self.cli("tail", self.fleet, "events", "--from", "oldest", "--count", "4", show=True)
        self.cli("stat", self.fleet, "--interval", "300ms", show=True)

        leader, token = self.leader() or leader
        victim = self.workers[leader]
        node = next(m["node_id"] for m in self.members() if m["pid"] == victim["pid"])
        head_before = self.ring_head()
        say()
        stamp(f"SIGKILL {leader} ({victim['lang']}, pid {victim['pid']}, node {node}): the leader, killed mid-run")
        victim["killed"] = True
        os.kill(victim["pid"], signal.SIGKILL)
        victim["proc"].wait()
        killed_at = time.monotonic()
        dead = self.wait_until(f"node {node} going dead",
                               lambda: any(m["node_id"] == node and m["state"] == "dead" for m in self.members()), 5)
        stamp(f"orbit members: node {node} ({leader}) is dead")
        successor, new_token = self.wait_until(
            "a new leader", lambda: (l := self.leader()) and l[0] != leader and l, 5)
        moved_after = time.monotonic() - killed_at
        stamp(f"orbit stat: lease `leader` moved from {leader} (token {token}) to {successor}"
              f" (token {new_token}) {moved_after:.2f} s after the kill")
        time.sleep(self.hold)
        say()
        self.cli("members", self.fleet, show=True)

        say()
        stamp("orbit cache set ... demo.stop 1: the survivors finish")
        self.cli("cache", "set", self.fleet, "state", "demo.stop", "1")
        for label, w in self.workers.items():
            if not w["killed"]:
                try:
                    w["proc"].wait(timeout=15)
                except subprocess.TimeoutExpired:
                    w["proc"].kill()
            w["pump"].join(timeout=5)
        head_after = self.ring_head()
        say()
        self.report(leader, node, (token, successor, new_token, moved_after), dead, head_before, head_after)
        say()
        self.cli("tail", self.fleet, "news", "--topic", "leader", "--from", "oldest", "--timeout", "300ms",
                 show=True)
        p = self.cli("clean", self.fleet, show=True, check=False)
        if p.returncode == 4:  # an `orbit top` watching, say: it is told, not an error
            say(f"    ({p.stderr.strip()})")
            self.cli("clean", self.fleet, "--force", show=True)
        elif p.returncode != 0:
            self.check(False, f"orbit clean exited {p.returncode}: {p.stderr.strip()}")
        say()
        failed = [text for ok, text in self.checks if not ok]
        for ok, text in self.checks:
            say(f"  [{'ok' if ok else 'FAILED'}] {text}")
        say()
        say("demo: " + ("every check held" if not failed else f"{len(failed)} check(s) FAILED")
            + f" ({time.monotonic() - T0:.1f} s)")
        return 0 if not failed else 1

    def ring_head(self):
        stat = json.loads(self.cli("stat", self.fleet, "events", "--json", "--interval", "10ms").stdout)
        return stat["rings"][0]["head"]

    def report(self, leader, node, lease, dead, head_before, head_after):
        token, successor, new_token, moved_after = lease
        say("What each process saw: frames it wrote, frames it read back with a valid CRC-32, frames lost,")
        say("bus events read back with a valid CRC-32, ticks it rejected for a stale fencing token, terms it led:")
        rows = [("WORKER", "LANG", "PID", "FATE", "WRITTEN", "VERIFIED", "TORN", "LOST", "EVENTS", "STALE", "LED")]
        survivors = []
        for label, w in self.workers.items():
            s = w["summary"] or {}
            code = w["proc"].returncode
            fate = "SIGKILL" if w["killed"] else f"exit {code}"
            written = self.counter(f"written.{label}")
            ev = s.get("events")
            rows.append((label, w["lang"], str(w["pid"]), fate, str(written),
                         str(s.get("verified", "-")), str(s.get("torn", "-")), str(s.get("lost", "-")),
                         "-" if ev is None else f"{ev - s['events_torn']}/{ev}",
                         str(s.get("stale_ticks", "-")), str(w["terms"])))
            if not w["killed"]:
                survivors.append((label, w, s, code))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            say("  " + "  ".join(c.ljust(widths[i]) if i < 4 else c.rjust(widths[i]) for i, c in enumerate(r)))
        say()
        self.cli("stat", self.fleet, "--interval", "100ms", show=True)

        torn = sum(s.get("torn", 0) for _, _, s, _ in survivors)
        verified = sum(s.get("verified", 0) for _, _, s, _ in survivors)
        readers = [s for _, _, s, _ in survivors if "events" in s]
        events = sum(s["events"] for s in readers)
        events_torn = sum(s["events_torn"] for s in readers)
        stale = sum(s["stale_ticks"] for s in readers)
        self.check(all(code == 0 and s for _, _, s, code in survivors),
                   f"the {len(survivors)} survivors exited 0 with a summary")
        self.check(torn == 0 and verified > 0,
                   f"{verified} frames read back across {len(survivors)} processes, every CRC-32 valid: {torn} torn")
        langs = {w["lang"] for w in self.workers.values()}
        cross = all(len(s.get("from_nodes", {})) >= len(self.workers) for _, _, s, _ in survivors)
        self.check(cross, f"each survivor read frames written by every member, in {', '.join(sorted(langs))}"
                          f" (the killed {leader} included)")
        self.check(dead, f"{leader} was killed with SIGKILL and `orbit members` showed node {node} dead")
        self.check(successor != leader and new_token > token,
                   f"the lease moved from {leader} to {successor} {moved_after:.2f} s after the kill, its fencing"
                   f" token from {token} to {new_token}")
        self.check(events > 0 and events_torn == 0 and all(s["max_token"] >= new_token for s in readers),
                   f"{events} bus events read back, every CRC-32 valid, ticks of token {new_token} seen by every"
                   f" reader; {stale} stale ticks rejected")
        self.check(head_after > head_before,
                   f"the fleet kept writing: ring head {head_before} at the kill, {head_after} at the end")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stage", default="stage", help="install prefix holding bin/orbit and lib/liborbit.so")
    ap.add_argument("--bin", default="build/demo", help="where the C (and Go) demo workers were built")
    ap.add_argument("--hold", type=float, default=1.5, help="seconds the fleet runs before and after the kill")
    a = ap.parse_args()
    stage, bin_dir = os.path.abspath(a.stage), os.path.abspath(a.bin)
    if not os.access(os.path.join(stage, "bin", "orbit"), os.X_OK):
        raise SystemExit(f"demo: no {stage}/bin/orbit: run `make stage` first (or `make demo`)")
    demo = Demo(stage, bin_dir, a.hold)
    try:
        return demo.run()
    finally:
        for w in demo.workers.values():
            if w["proc"].poll() is None:
                w["proc"].kill()
        if shutil.which(demo.cli_path) or os.path.exists(demo.cli_path):
            subprocess.run([demo.cli_path, "clean", demo.fleet, "--force"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
