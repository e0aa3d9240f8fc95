# Two commands set everything up on a fresh machine:  make run  (all notebooks)  and  make test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch/torchvision as pip finds them on this project's machines; override for other platforms,
# e.g.  make test TORCH="torch torchvision"
TORCH ?= torch==2.14.1 torchvision==0.29.1
PROFILE ?= cpu
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))

.PHONY: venv test test-fast run lab bench clean-smoke

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/.installed

# unit tests, then every notebook headless in the smoke profile (nbval)
test: venv
	PNLIB_PROFILE=smoke $(BIN)/python -m pytest -q -rs --durations=12 tests $(if $(NOTEBOOKS),--nbval-lax $(NOTEBOOKS))

test-fast: venv
	$(BIN)/python -m pytest -q tests

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
