# Two commands for a fresh machine:  `make run` (the portal with a worker and a demo tenant)  and  `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test sandbox-build clean

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
test: $(STAMP) sandbox-build
	$(VENV)/bin/lint-imports
	DJANGO_DEBUG=true $(PY) -m pytest --create-db $(PYTEST_ARGS)

sandbox-build:
	bash sandbox/vcenter/build.sh

clean:
	rm -rf $(VENV) var staticfiles
