# Two commands for a fresh machine:  `make run` (the portal with a worker and a demo tenant)  and  `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

# Test processes side by side (pytest-xdist; each starts its own sandbox peers and test database): `auto` is one per
# core. Tests go to whichever process is free (worksteal), so a long one never holds a queue of short ones back.
PYTEST_WORKERS ?= auto
PYTEST_XDIST   := -n $(PYTEST_WORKERS) --dist worksteal

.PHONY: run test test-quick deps sandbox-build browser-deps screenshots clean connector-wheel

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,sandbox]"
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

run: $(STAMP)
	DJANGO_DEBUG=true $(PY) manage.py runportal

# The import contracts (layers, adapters, sandbox; see pyproject.toml), then the whole suite on the database
# DATABASE_URL names (SQLite when unset). The sandbox peers are built first (the vCenter simulator needs Go from
# Debian's packages; build.sh installs it when missing and root).
test: deps
	$(VENV)/bin/lint-imports
	DJANGO_DEBUG=true $(PY) -m pytest --create-db $(PYTEST_XDIST) $(PYTEST_ARGS)

# The inner loop: the unit and peer tiers only (no processes of ours, no browser, no fuzz); tests/README.md.
test-quick: $(STAMP) sandbox-build
	DJANGO_DEBUG=true $(PY) -m pytest $(PYTEST_XDIST) -m "not process and not browser and not fuzz" $(PYTEST_ARGS)

# Everything the suite needs installed or built (the test target's prerequisites, runnable on their own).
deps: $(STAMP) sandbox-build browser-deps

# The connector agent's own wheel (connector/dist.py), for the host beside a customer's vCenter.
connector-wheel: $(STAMP)
	$(PY) -m connector.dist var/dist

sandbox-build:
	bash sandbox/vcenter/build.sh

# The browser tests drive Debian's chromium (never a downloaded browser) and inject axe-core from npm.
browser-deps:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	@test -f var/npm/node_modules/axe-core/axe.min.js || npm install --silent --no-audit --no-fund --prefix var/npm axe-core@4

# The README's tour (docs/screenshots/): the browser journeys, keeping one picture per role at laptop and phone width.
screenshots: deps
	PORTAL_TOUR_DIR=docs/screenshots DJANGO_DEBUG=true $(PY) -m pytest -p no:cacheprovider -q tests/browser/test_journeys.py

clean:
	rm -rf $(VENV) var staticfiles
