# tagstream: two commands on a fresh machine.
#   make run   - the main job on the embedded default (bundled data)
#   make test  - the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test venv system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned, so that no other package's resolver pulls a CUDA build.
	$(BIN)/python -m pip install --quiet "torch==2.13.0"
	$(BIN)/python -m pip install --quiet -e ".[text,broker,dev]"
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/tagstream run --learner ihomer,mlhat --out out/run

# Debian packages the browser and Prometheus tests drive for real (chromium, chromedriver, prometheus).
system-deps:
	bash scripts/install-system-deps.sh

# Two workers (pytest-xdist): most integration tests wait on the broker and Ray, not on a CPU.
# A worker takes whole modules (--dist loadfile): a module's fixtures (its Ray) start once, on one
# worker, and each worker has its own broker. Modules go out in collection order, where
# tests/conftest.py puts those with slow tests first (not xdist's default: the most tests first).
TEST_WORKERS ?= 2

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

clean:
	rm -rf $(VENV) out .pytest_cache
