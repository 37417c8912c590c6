# octopus-mail: `make run` serves the admin on the embedded defaults, `make test` runs the suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000

.PHONY: install run test lint migrate clean constraints bench

install: $(VENV)/.installed locale/en/LC_MESSAGES/django.mo

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# The English catalogue, compiled with GNU gettext's msgfmt and never committed. The touch:
# compilemessages leaves alone a .mo newer than its .po, even when .installed is newer still.
locale/en/LC_MESSAGES/django.mo: locale/en/LC_MESSAGES/django.po $(VENV)/.installed
	$(PY) manage.py compilemessages --ignore=$(VENV)
	touch $@

migrate: install
	$(PY) manage.py migrate --no-input
	$(PY) manage.py migrate --database mailserver --no-input

run: migrate
	$(PY) manage.py createadmin admin --tokens 3
	@echo "Admin : http://$(HOST)/admin/  (utilisateur admin, mot de passe affiché à sa création, puis un code de secours)"
	$(PY) manage.py runserver $(HOST)

test: install
	$(PY) -m pytest

# Benchmarks and fault drills (bench/, needs the services `make test` needs): prints the
# figures and writes bench/RESULTS.md in about five minutes. BENCH_N=10000 and friends (see
# bench/README.md) scale them up.
BENCH_N ?= 1000
BENCH_PROFILE_N ?= 150
bench: install
	BENCH_N=$(BENCH_N) BENCH_PROFILE_N=$(BENCH_PROFILE_N) $(PY) bench/run_all.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) var .pytest_cache

# The pinned versions the Docker image installs: the runtime dependencies only, resolved
# in a scratch environment. Run after changing pyproject.toml's dependencies.
constraints:
	rm -rf .constraints-venv
	$(PYTHON) -m venv .constraints-venv
	.constraints-venv/bin/pip install --quiet --upgrade pip
	.constraints-venv/bin/pip install --quiet .
	echo "# Made by \`make constraints\` from pyproject.toml's dependencies." > constraints.txt
	.constraints-venv/bin/pip freeze --exclude-editable | grep -v '^octopus-mail' >> constraints.txt
	rm -rf .constraints-venv build *.egg-info
