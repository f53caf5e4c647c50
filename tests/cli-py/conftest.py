"""Shared fixtures of the command-line checks run by `make cli-test`.

ORBIT_CLI names the `orbit` binary under test (the staged one), ORBIT_LIBRARY
the liborbit the Python binding loads to make real fleets.
"""
import glob
import os
import subprocess
import uuid

import pytest


@pytest.fixture
def orbit_cli():
    path = os.environ.get("ORBIT_CLI")
    if not path:
        pytest.fail("ORBIT_CLI must name the orbit binary (make cli-test sets it)")
    return path


@pytest.fixture
def run(orbit_cli):
    def run(*args, check=True):
        p = subprocess.run([orbit_cli, *args], capture_output=True, text=True, timeout=60)
        if check and p.returncode != 0:
            raise AssertionError(f"orbit {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p
    return run


@pytest.fixture
def fleet_name():
    """A fleet name unique to this test; its segments are removed afterwards."""
    names = []

    def make(tag="f"):
        name = f"cli{os.getpid()}-{tag}-{uuid.uuid4().hex[:6]}"
        names.append(name)
        return name

    yield make
    for name in names:
        for path in glob.glob(f"/dev/shm/orbit:{os.geteuid()}:{name}:*"):
            try:
                os.unlink(path)
            except OSError:
                pass
