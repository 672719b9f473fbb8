"""Shared fixtures. Prefect's test harness (a temporary API server on a throwaway database)
starts once per session, and only for the tests that run a flow."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def state_home(tmp_path_factory):
    """dreamtrip's notes of runs and Prefect's logs (flows/rerun.py's state_dir) go to a folder of
    the session, not the user's home; subprocesses inherit it."""
    folder = tmp_path_factory.mktemp("state-home")
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture(scope="session")
def prefect_harness():
    import flows  # noqa: F401  (sets Prefect's environment defaults before Prefect loads)
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def weights_cache(tmp_path_factory):
    """One converted-weights cache for the whole session (the conversion writes ~58 MB)."""
    return tmp_path_factory.mktemp("weights-cache")


# An empty album folder and an output folder for ingest tests (files are written in the tests).
# Modules that need a ready-made album define their own `album`, which wins over this one.
@pytest.fixture
def album(tmp_path):
    root = tmp_path / "album"
    root.mkdir()
    return root


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out"
