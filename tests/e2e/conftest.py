"""A real `streamlit run` on a free loopback port, and Debian's chromium driven by playwright."""

import pytest
from playwright.sync_api import sync_playwright

from bench.server import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """One server for the session's browser tests."""
    try:
        server, url = start_server(tmp_path_factory.mktemp("streamlit") / "server.log")
    except RuntimeError as error:
        pytest.fail(str(error))
    yield url
    stop_server(server)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
