# Two commands do all set-up on a fresh machine (Python 3.10+, pip, make):
#   make demo   - the main job: the embedded Webex emulator plus a full register/unregister run
#   make test   - lint, type-check and the whole test suite
# Both create .venv and install the project (editable) with its test extras on first use, and
# say so before the install starts (about half a minute on a fresh machine).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-py310 test-long lint typecheck pytest bench specs clean

$(STAMP): pyproject.toml
	@echo "Setting up $(VENV): installing webex-meetings and its test tools first (about 30 s)..."
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)
	@echo "Installed into $(VENV)."

demo: $(STAMP)
	$(BIN)/webex-meetings demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict examples
	$(BIN)/mypy bench

pytest: $(STAMP)
	$(BIN)/pytest -q

# The oldest supported Python, when the machine has it (CI runs this after `make test`).
PY310 ?= $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo $$p; break; }; \
	done)
test-py310:
	@if [ -n "$(PY310)" ]; then \
		$(PY310) -m venv .venv310 && \
		.venv310/bin/python -m pip install --quiet --upgrade pip && \
		.venv310/bin/python -m pip install --quiet -e '.[test]' && \
		.venv310/bin/pytest -q -m "not interop and not faults_full and not conformance_full"; \
	else echo "no Python 3.10 found: the Python 3.10 run is skipped"; fi

# The long matrices (every fault at every step), each bounded by a timeout; CI runs this after
# the quick suite. `make test` runs a representative subset of each.
test-long: $(STAMP)
	timeout 1200 $(BIN)/pytest -q -m faults_full tests/faults
	timeout 1500 $(BIN)/pytest -q -m conformance_full tests/conformance

bench: $(STAMP)
	$(BIN)/python bench/run.py

specs: $(STAMP)
	$(BIN)/python -m webex_meetings.specs_export

clean:
	rm -rf $(VENV) .venv310 build dist *.egg-info .mypy_cache .ruff_cache .hypothesis .cache
