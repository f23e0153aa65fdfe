# berth: the everyday commands. See README.md.
.PHONY: serve test compat test-cluster install

# Install berth into .venv and serve the API on 127.0.0.1:8778 with SQLite
# under ./data.
serve:
	scripts/install-python
	.venv/bin/berth serve --host 127.0.0.1 --port 8778

# Install what the tests need (Debian packages, Python packages) and run them.
test:
	scripts/run-tests

install:
	scripts/install-python test
