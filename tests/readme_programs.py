"""Builds and runs every C, C++, Go and Python code block of README.md against a stage.

    readme_programs.py --stage DIR --python PYTHON [--readme README.md]

Each such block is a complete program, as a reader would copy it into a file.
C and C++ are built with pkg-config of the stage and -Wall -Wextra -Werror
-pedantic; Go as a module requiring orbit with a replace to bindings/go;
Python runs with ORBIT_LIBRARY of the stage. The fleet names the programs use
("shop", "payments") are swapped for one unique to this run, whose segments
are removed afterwards. Exits non-zero naming the block (language and line)
that failed to build or run.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(c|cpp|go|python)\n(.*?)^```$", re.M | re.S)
FLEETS = re.compile(r'"(shop|payments)"')
TIMEOUT_S = 60


def blocks(readme: Path):
    text = readme.read_text()
    for m in FENCE.finditer(text):
        yield m.group(1), text.count("\n", 0, m.start()) + 1, m.group(2)


def run(cmd, env, cwd=None) -> str:
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited with {p.returncode}:\n{p.stdout}{p.stderr}")
    return p.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", required=True)
    ap.add_argument("--python", required=True, help="a Python with the orbit package installed")
    ap.add_argument("--readme", default=str(ROOT / "README.md"))
    a = ap.parse_args()
    stage = Path(a.stage).resolve()
    libdir = stage / "lib"
    env = dict(os.environ, PKG_CONFIG_PATH=str(libdir / "pkgconfig"), ORBIT_LIBRARY=str(libdir / "liborbit.so"),
               CGO_LDFLAGS=f"-Wl,-rpath,{libdir}")
    flags = run(["pkg-config", "--cflags", "--libs", "orbit"], env).split() + [f"-Wl,-rpath,{libdir}"]
    fleet = f"readme{os.getpid()}"
    failures, count = [], 0
    try:
        count = check_all(a, env, flags, fleet, failures)
    finally:
        for path in glob.glob(f"/dev/shm/orbit:{os.geteuid()}:{fleet}:*"):
            os.unlink(path)
    if failures:
        print(f"readme-check: {len(failures)} of {count + len(failures)} programs failed", flush=True)
        return 1
    print(f"readme-check: {count} programs built and ran", flush=True)
    return 0


def check_all(a, env, flags, fleet: str, failures: list) -> int:
    """Builds and runs each block; returns how many passed, appends failures."""
    count = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, (lang, line, code) in enumerate(blocks(Path(a.readme))):
            code = FLEETS.sub(f'"{fleet}"', code)
            work = Path(tmp) / f"block{i}"
            work.mkdir()
            try:
                if lang == "c":
                    (work / "app.c").write_text(code)
                    run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "app.c", "-o", "app"] + flags,
                        env, work)
                    out = run(["./app"], env, work)
                elif lang == "cpp":
                    (work / "app.cpp").write_text(code)
                    run(["c++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic", "app.cpp", "-o", "app"]
                        + flags, env, work)
                    out = run(["./app"], env, work)
                elif lang == "go":
                    (work / "main.go").write_text(code)
                    run(["go", "mod", "init", "example.com/app"], env, work)
                    run(["go", "mod", "edit", "-require=orbit@v0.0.0", f"-replace=orbit={ROOT / 'bindings/go'}"],
                        env, work)
                    run(["go", "vet", "."], env, work)
                    run(["go", "build", "-o", "app", "."], env, work)
                    out = run(["./app"], env, work)
                else:
                    (work / "app.py").write_text(code)
                    out = run([os.path.abspath(a.python), "app.py"], env, work)
                count += 1
                first = out.strip().splitlines()[:1]
                print(f"  ok  README.md:{line} ({lang}){': ' + first[0] if first else ''}", flush=True)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                failures.append(f"README.md:{line} ({lang}): {e}")
                print(f"  FAIL README.md:{line} ({lang})\n{e}", flush=True)
    return count


if __name__ == "__main__":
    sys.exit(main())
