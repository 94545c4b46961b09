# The two set-up commands of the README: `make demo` and `make test`. Both build .venv from
# nothing on a fresh machine (Python 3.11+, pip reaches PyPI) and reuse it afterwards.
# For developers (CONTRIBUTING.md): `make test-fast` for the inner loop, `make lint` for the checks.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test test-fast bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

# Tests and benchmarks also need the anchor (face_recognition 1.3.0, the same dlib models) for
# like-for-like checks; --no-deps because its declared requirement would build dlib from source.
$(VENV)/.test: $(VENV)/.runtime
	$(PY) -m pip install --quiet -e ".[test,bench]"
	$(PY) -m pip install --quiet --no-deps face_recognition==1.3.0
	touch $@

# The linters; mypy checks the tests too, so it needs the test extra's packages.
$(VENV)/.dev: $(VENV)/.test
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.runtime
	$(VENV)/bin/consentcam demo $(ARGS)

test: $(VENV)/.test
	$(PY) -m pytest $(PYTEST_ARGS)

# The inner loop: everything but the browser, PostgreSQL, slow and fuzz tests (the markers are
# described in pyproject.toml); `make test` runs them all.
test-fast: $(VENV)/.test
	$(PY) -m pytest -m "not browser and not postgres and not slow and not fuzz" $(PYTEST_ARGS)

bench: $(VENV)/.test
	$(PY) benchmarks/bench_embed.py --json

# Every check runs, even after one fails, so one run shows all that is wrong; the target fails
# if any did. mypy's files and the import contract are in pyproject.toml.
lint: $(VENV)/.dev
	@failed=""; \
	$(VENV)/bin/ruff check src tests benchmarks || failed="$$failed ruff-check"; \
	$(VENV)/bin/ruff format --check src tests benchmarks || failed="$$failed ruff-format"; \
	$(VENV)/bin/mypy || failed="$$failed mypy"; \
	$(VENV)/bin/lint-imports || failed="$$failed lint-imports"; \
	if [ -n "$$failed" ]; then echo "lint: failed:$$failed" >&2; exit 1; fi

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
