# The two commands of the README. Each one sets up .venv on a fresh machine first.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## the whole pipeline on the embedded synthetic data set
	$(VENV)/bin/rtguard run

test: $(STAMP)  ## the linter, then the test suite (tests needing ../shared/data skip when it is absent)
	$(VENV)/bin/ruff check rtguard tests bench
	$(VENV)/bin/pytest -q

bench: $(STAMP)  ## side-by-side benchmark on NSL-KDD (needs ../shared/data/nsl-kdd)
	$(VENV)/bin/python bench/nsl_kdd.py

clean:
	rm -rf $(VENV) runs
