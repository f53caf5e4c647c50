"""Runs the bindings benchmark of `make bench-bindings` in one go.

Starts a redis-server on a free loopback port (stopped at the end), then runs
the C baseline, C++, Go and Python programs in turn, ROUNDS times,
interleaved so that drift of the shared machine hits every language alike.
Each program does a warm-up and REPS timed repetitions per operation; the
figure kept is the median of all ROUNDS x REPS samples. Writes the results
to a JSON file; table.py turns that into the Markdown of BENCHMARKS.md.

usage: run.py --c BIN --cpp BIN --go BIN --python "PYTHON bench_py.py"
              --redis-server PATH --out results.json [--rounds 3] [--reps 5]
"""

import argparse
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(server: str) -> tuple:
    port = free_port()
    p = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while not redis_ping(port):
        if p.poll() is not None or time.time() > deadline:
            p.kill()
            err = p.stderr.read().decode(errors="replace") if p.stderr else ""
            raise SystemExit(f"run.py: redis-server did not start on port {port}: {err}")
        time.sleep(0.05)
    return p, port


def version(cmd: list) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    for lang in ("c", "cpp", "go", "python"):
        ap.add_argument(f"--{lang}", required=True, help=f"the {lang} program (a command line)")
    ap.add_argument("--redis-server", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()

    programs = {lang: shlex.split(getattr(a, lang)) for lang in ("c", "cpp", "go", "python")}
    samples: dict = {}
    load_before = os.getloadavg()
    started = time.time()
    redis, port = start_redis(a.redis_server)
    try:
        for rnd in range(a.rounds):
            for lang, cmd in programs.items():
                fleet = f"bb{os.getpid()}-{lang}-{rnd}"
                args = cmd + [fleet, str(a.reps)]
                if lang == "python":
                    args += ["--redis-port", str(port)]
                print(f"run.py: round {rnd + 1}/{a.rounds}: {lang}", file=sys.stderr, flush=True)
                out = subprocess.run(args, capture_output=True, text=True, timeout=900)
                if out.returncode != 0:
                    raise SystemExit(f"run.py: {' '.join(args)} failed ({out.returncode}):\n{out.stderr}")
                for line in out.stdout.splitlines():
                    r = json.loads(line)
                    key = (r["lang"], r["op"], r["form"], r["batch"])
                    samples.setdefault(key, []).extend(r["ns"])
    finally:
        redis.terminate()
        try:
            redis.wait(10)
        except subprocess.TimeoutExpired:
            redis.kill()

    py = shlex.split(a.python)[0]
    results = []
    for (lang, op, form, batch), ns in samples.items():
        med = statistics.median(ns)
        results.append({
            "lang": lang, "op": op, "form": form, "batch": batch,
            "ns_per_op": round(med, 2), "mops": round(1e3 / med, 3),
            "samples": len(ns), "min": min(ns), "max": max(ns),
        })
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "seconds": round(time.time() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "kernel": platform.release(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "rounds": a.rounds, "reps": a.reps,
        "python": version([py, "-c", "import sys, redis; print(sys.version.split()[0], 'redis-py', redis.__version__)"]),
        "go": version(["go", "version"]),
        "cc": version(["cc", "--version"]),
        "redis_server": version([a.redis_server, "--version"]),
    }
    with open(a.out, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
        f.write("\n")
    print(f"run.py: {len(results)} results in {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
