import os
import uuid

import pytest


@pytest.fixture
def fleet_name():
    """A fleet name unique to this test; its segments are removed afterwards."""
    name = f"py{os.getpid()}-{uuid.uuid4().hex[:8]}"
    yield name
    import glob

    for path in glob.glob(f"/dev/shm/orbit:{os.geteuid()}:{name}:*"):
        try:
            os.unlink(path)
        except OSError:
            pass
