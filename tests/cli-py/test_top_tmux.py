"""`orbit top` as a person sees it: run in a real terminal (tmux), read the
screen with capture-pane, quit with q and with Ctrl-C, and check that the
terminal is left as it was (main screen, echo and line editing back on)."""
import os
import shutil
import threading
import time
import uuid

import orbit
import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def tmux(*args):
    import subprocess
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=20)


def screen(session):
    return tmux("capture-pane", "-p", "-t", session).stdout


def wait_for(session, predicate, what, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        s = screen(session)
        if predicate(s):
            return s
        time.sleep(0.1)
    raise AssertionError(f"{what} did not appear; screen:\n{screen(session)}")


@pytest.fixture
def session():
    name = f"orbit-top-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    r = tmux("new-session", "-d", "-s", name, "-x", "140", "-y", "40",
             "env", "PS1=$ ", "bash", "--norc", "--noprofile")
    assert r.returncode == 0, r.stderr
    yield name
    tmux("kill-session", "-t", name)


@pytest.mark.parametrize("quit_key", ["q", "C-c"])
def test_top_refreshes_and_quits(orbit_cli, fleet_name, session, quit_key):
    name = fleet_name("top")
    f = orbit.Fleet.join(name, label="tmux-writer")
    r = f.ring("events", capacity=64, max_payload=64)
    c = f.cache("kv")
    stop = threading.Event()

    def write():
        i = 0
        while not stop.is_set():
            r.write(b"frame %d" % i)
            c.get("k")
            i += 1
            time.sleep(0.005)

    t = threading.Thread(target=write)
    t.start()
    try:
        tmux("send-keys", "-t", session, f"{orbit_cli} top {name} --interval 300ms; echo rc=$?", "Enter")
        s = wait_for(session, lambda s: "WRITES/S" in s and "tmux-writer" in s, "the stat view")
        assert f"orbit top  fleet {name}" in s
        row = next(l for l in s.splitlines() if l.strip().startswith("events"))
        writes_per_s = float(row.split()[5].rstrip("k"))
        assert writes_per_s > 0, row
        first = s
        s = wait_for(session, lambda s: s != first and "WRITES/S" in s, "a refresh")
        tmux("send-keys", "-t", session, quit_key)
        s = wait_for(session, lambda s: "rc=0" in s, "exit status 0")
        assert "WRITES/S" not in s, "the main screen is back"
        tmux("send-keys", "-t", session, "stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo", "Enter")
        s = wait_for(session, lambda s: "\nicanon" in s and "\necho" in s, "echo and icanon restored")
    finally:
        stop.set()
        t.join()
