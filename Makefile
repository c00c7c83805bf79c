# Queue Workbench: every target calls the CLI or pytest inside the project's venv.
#   make demo   set up a venv and run the main job on the embedded default
#   make test   install what the tests need (pip; apt as root) and run the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
APT_PACKAGES := prometheus rabbitmq-server chromium chromium-driver
APT_BINARIES := prometheus promtool rabbitmq-server chromium chromedriver

.PHONY: demo test install install-test system-deps lint bench bench-quick serve report clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PIP) install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/workbench demo

system-deps:
	@missing=""; for b in $(APT_BINARIES); do command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages: $(APT_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	  else \
	    echo "The tests need real services. Missing:$$missing"; \
	    echo "Install them as root:  sudo apt-get install -y --no-install-recommends $(APT_PACKAGES)"; \
	    exit 1; \
	  fi; \
	fi

test: install-test system-deps
	$(VENV)/bin/pytest

lint: install-test
	$(VENV)/bin/ruff check workbench tests benchmarks
	$(VENV)/bin/ruff format --check workbench tests benchmarks
	$(VENV)/bin/mypy

bench: install
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

bench-quick: install
	@for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f --quick || exit 1; done

serve: install
	$(VENV)/bin/workbench serve

report: install
	$(VENV)/bin/workbench report fleet_exploration

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
