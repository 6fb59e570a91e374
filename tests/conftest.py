pytest_plugins = ["tests.fixtures.plugin", "tests.fixtures.studio_app"]
