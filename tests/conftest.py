import json
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "api"


@pytest.fixture
def sample():
    """Read a recorded platform response from ../shared/samples/api/<platform>/<name>."""

    def load(relative: str):
        return json.loads((SAMPLES / relative).read_text())

    return load
