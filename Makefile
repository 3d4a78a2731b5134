# chainlens — set-up and checks. Every target creates .venv on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo test lint bench browser java clean fuzz

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,spark]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/chainlens demo

# Debian's chromium for the browser tests (Playwright's own download is blocked here).
browser:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
	  { if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 \
	      || echo "warning: could not install chromium; browser tests will be skipped"; \
	    else echo "note: install Debian's chromium for the browser tests"; fi; }

# A Java runtime for the Spark tests (skipped, with the reason, without one).
java:
	@command -v java >/dev/null 2>&1 || \
	  { if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless) >/dev/null 2>&1 \
	      || echo "warning: could not install Java; Spark tests will be skipped"; \
	    else echo "note: install a Java 17+ runtime for the Spark tests"; fi; }

test: $(STAMP) browser java
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

# The fuzz and fault suites with a 20x larger Hypothesis budget (make test runs 40 examples).
fuzz: $(STAMP)
	CHAINLENS_FUZZ_EXAMPLES=800 $(BIN)/python -m pytest -q -s -p no:cacheprovider \
	  tests/test_fuzz_inputs.py tests/test_faults_store.py tests/test_faults_kill.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) chainlens-data .pytest_cache .mypy_cache

# Wheel and sdist in dist/, checked by twine (metadata, README rendering).
.PHONY: dist
dist: $(STAMP)
	rm -rf dist build
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*
