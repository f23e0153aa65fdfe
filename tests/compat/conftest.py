"""pytest settings for the upstream compatibility suite (tests/compat)."""


def pytest_configure(config):
    # Registered here rather than in pyproject.toml so that tests/compat is
    # self-contained; `-m "not compat"` skips the live-server suite.
    config.addinivalue_line(
        "markers", "compat: upstream Placement gabbi test run against a live server")
    # Also registered by pytest-xdist; here too so runs without it stay quiet.
    config.addinivalue_line("markers", "xdist_group(name): run in one xdist worker")
