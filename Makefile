# Two commands set everything up on a fresh machine:  make run  (all notebooks)  and  make test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch/torchvision as pip finds them on this project's machines; override for other platforms,
# e.g.  make test TORCH="torch torchvision"
TORCH ?= torch==2.14.1 torchvision==0.29.1
PROFILE ?= cpu
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
LINTED := pnlib tests benchmarks notebooks tools
# the longest tests first, so that the two workers finish together
FIRST := tests/test_notebooks.py tests/test_benchmarks.py tests/test_browser.py tests/test_engines.py

.PHONY: venv lint format test test-fast nbval run lab bench site

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/.installed

# ruff: the formatter's check and the linter (make format rewrites)
lint: venv
	$(BIN)/ruff format --check -q $(LINTED)
	$(BIN)/ruff check -q $(LINTED)

format: venv
	$(BIN)/ruff format -q $(LINTED)
	$(BIN)/ruff check -q --fix $(LINTED)

# everything, on two workers: lint, unit tests, engines, faults, benchmarks' quick runs, every
# notebook once under nbval (smoke profile) and notebook 01 in JupyterLab in a browser. A test that
# hangs fails after its timeout with its traceback.
test: lint
	PNLIB_PROFILE=smoke $(BIN)/python -m pytest -n 2 --dist loadgroup --timeout 1500 -q -rs --durations=12 \
	  $(FIRST) tests

# unit tests only (no engines, notebooks, browser or benchmarks): under 2 minutes
test-fast: venv
	$(BIN)/ruff check -q $(LINTED)
	$(BIN)/python -m pytest -n 2 --timeout 300 -q -m "not integration" tests

# the notebooks alone under nbval, against whatever data this machine has (smoke profile)
nbval: venv
	PNLIB_PROFILE=smoke $(BIN)/python -m pytest -q --nbval-lax --nbval-cell-timeout=600 $(NOTEBOOKS)

# every notebook via papermill, profile $(PROFILE) (default cpu), executed copies into reports/;
# the data the notebooks need are found (or downloaded) first, before anything trains
run: venv
	@if [ -z "$(NOTEBOOKS)" ]; then echo "nothing to run: notebooks/ holds no notebook yet"; exit 0; fi
	@$(BIN)/python -m pnlib check-data --profile $(PROFILE) $(NOTEBOOKS)
	@mkdir -p reports
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb (profile $(PROFILE))"; \
	  $(BIN)/papermill --kernel python3 --cwd notebooks -p profile $(PROFILE) \
	    $$nb reports/$$(basename $$nb) || exit 1; \
	done

lab: venv
	$(BIN)/jupyter lab

bench: venv
	@for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# the executed reports and the README/docs as static HTML pages in site/ (equations typeset offline)
site: venv
	$(BIN)/python tools/site.py site
