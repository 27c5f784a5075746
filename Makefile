# physics-ML: one command each for install, demo, test, bench and lint.
# Everything runs in .venv; torch is installed first as the pinned CPU-capable build
# (torch==2.13.0) so a plain dependency resolution never pulls a multi-GB CUDA build.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
TOOLS  := nrfix ionofield physx4dct fcpredict
TORCH  ?= torch==2.13.0

.PHONY: install demo test bench lint docs results-tables constraints clean help

help:
	@echo "make install  - create .venv and install the package with dev tools"
	@echo "make demo     - run every tool's end-to-end demo into runs/demo/<tool>/"
	@echo "make test     - run the test suite (pytest, 2 workers)"
	@echo "make bench    - run the side-by-side benchmarks in bench/ (long)"
	@echo "make lint     - ruff check + ruff format --check"
	@echo "make docs     - build the documentation site (mkdocs --strict) into site/"
	@echo "make results-tables - regenerate the docs tables from results/*.json"

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -c constraints.txt -e ".[dev,fcpredict]"
	touch $(STAMP)

demo: $(STAMP)
	@set -e; for t in $(TOOLS); do \
	  echo "== $$t demo -> runs/demo/$$t"; \
	  $(PY) -m $$t demo --out runs/demo/$$t; \
	done
	@echo "demo outputs and figures: runs/demo/<tool>/"

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --timeout=900 $(PYTEST_ARGS)

bench: $(STAMP)
	@set -e; for b in bench/*.py; do \
	  echo "== $$b"; $(PY) $$b; \
	done

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

results-tables: $(STAMP)
	$(PY) scripts/results_tables.py

# after a dependency change: pin what this venv has (the versions the tests then pass with)
constraints: $(STAMP)
	$(PIP) freeze --exclude-editable | grep -v "^torch==" \
	  | sed -E 's/^([A-Za-z0-9_.-]+) @ .*/\1/' > constraints.txt

clean:
	rm -rf runs/demo runs/bench .pytest_cache site
