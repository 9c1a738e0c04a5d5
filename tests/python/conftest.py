"""pytest fixtures for the ringfetch Python package: the integration tests'
test world (real nginx with the test CA, tests/integration/harness.py),
imported, not copied."""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402

# The CA variables of the caller must not decide what verify=True trusts.
for _v in harness.CA_ENV_VARS + harness.PROXY_ENV_VARS:
    os.environ.pop(_v, None)

SANITIZED = bool(os.environ.get("RF_PY_SANITIZED"))


@pytest.fixture(scope="session")
def world():
    missing = harness.missing_prerequisites()
    if missing:
        pytest.fail(harness.missing_text(missing))
    env = harness.start(require_ringfetch=False)
    yield env
    harness.stop()


def pytest_collection_modifyitems(config, items):
    # a sanitizer build runs everything but what measures speed or memory
    if SANITIZED:
        items[:] = [i for i in items if "not_sanitized" not in i.keywords]


def pytest_configure(config):
    config.addinivalue_line("markers", "not_sanitized: timing or RSS test, not run under ASan")
