# mmhybrid developer entry points. A newcomer needs two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmhybrid-installed
PYTEST_ARGS ?=
# pytest-xdist workers: one per core of the 2-core machines the suite is sized for (each worker
# gets its share of torch's threads, tests/conftest.py). `make test PYTEST_WORKERS=0` runs serially.
PYTEST_WORKERS ?= 2

.PHONY: install lint test test-fast demo clean help

help:
	@echo "make install    create $(VENV) with torch, mmcv (with ops), mmengine, mmdet, mmseg, mmpretrain, mmhybrid"
	@echo "make lint       ruff check (pycodestyle, pyflakes, isort rules; config in ruff.toml)"
	@echo "make test       install, lint, then run the whole test suite"
	@echo "make test-fast  install, lint, then run the tests not marked slow"
	@echo "make demo       install, train TopFormer-T on a tiny ADE20K-format set, evaluate, draw"

# Re-runs when the install recipe or the package metadata changes; the script itself is idempotent
# and reuses a cached mmcv wheel, so a re-run takes about a minute.
$(STAMP): tools/install_env.sh setup.py requirements/*.txt
	PYTHON=$(PYTHON) VENV=$(VENV) bash tools/install_env.sh
	touch $@

install: $(STAMP)

# Style is enforced: every test run lints first (ruff is pinned in requirements/tests.txt and
# .pre-commit-config.yaml). `$(PY) -m ruff check --fix .` applies the safe fixes.
lint: install
	$(PY) -m ruff check .

# The whole suite runs in reverse order (pytest-reverse) over $(PYTEST_WORKERS) workers: a test
# that passes only after another has set some global state, or only in the process of the test
# before it, fails here; `make test-fast` and plain `pytest` keep the file order.
test: install lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) --reverse --durations=20 $(PYTEST_ARGS)

test-fast: install lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

demo: install
	PYTHON=$(PY) bash tools/demo.sh

clean:
	rm -rf work_dirs/demo data/tiny mmhybrid/.mim build *.egg-info
