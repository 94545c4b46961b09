# The two set-up commands of the README: `make demo` and `make test`. Both build .venv from
# nothing on a fresh machine (Python 3.11+, pip reaches PyPI) and reuse it afterwards.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test bench lint clean

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

demo: $(VENV)/.runtime
	$(VENV)/bin/consentcam demo $(ARGS)

test: $(VENV)/.test
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.test
	$(PY) benchmarks/bench_embed.py --json

lint: $(VENV)/.test
	$(PY) -m pip install --quiet -e ".[dev]"
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
