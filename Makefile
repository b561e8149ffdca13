# Set-up is part of every target: a fresh clone needs only `make demo` / `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint tables clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch pinned: the local CPU wheel; any other spec downloads GBs of CUDA packages
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	# compile the numba kernels into the user's cache once, so the first simulation is fast
	$(BIN)/accelsim --quiet warm
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/accelsim --quiet warm
	$(BIN)/accelsim demo --out runs/demo

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# The HTML report is checked in a real headless browser; install one from the OS packages
# when possible (best effort: without it that one test is skipped, nothing fails).
browser:
	@command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1 \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	       && { apt-get install -y -q chromium-headless-shell >/dev/null 2>&1 \
	            || { apt-get update -q >/dev/null 2>&1 \
	                 && apt-get install -y -q chromium-headless-shell >/dev/null 2>&1; }; }; } \
	  || echo "note: no Chromium found or installable; the report's browser test will be skipped"

tables: $(STAMP)
	$(BIN)/python -m workloads.tables --write

clean:
	rm -rf $(VENV) runs .pytest_cache
