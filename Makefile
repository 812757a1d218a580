# Two entry points for a fresh machine (README "Quick start"):
#   make demo   install, then stream sample chat through a worker on an embedded broker
#   make test   install, lint, type-check, start the real Kafka broker, run every test, stop it
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install broker-start broker-stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/vigil demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The broker is stopped whatever the tests do; pytest's exit code is kept.
test: lint
	@command -v java >/dev/null && command -v mvn >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null)
	deploy/kafka/broker start
	$(BIN)/pytest; status=$$?; deploy/kafka/broker stop; exit $$status

clean:
	deploy/kafka/broker clean || true
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
