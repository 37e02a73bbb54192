# The two commands of the README: `make demo` and `make test`. Both set up
# .venv themselves (tools/setup_env.sh; idempotent, fast when nothing changed).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
export AUTOLA_VENV := $(VENV)

.PHONY: setup test demo build-cuda clean

setup:
	bash tools/setup_env.sh

test: setup
	$(PYTHON) -m pytest tests

demo: setup
	$(PYTHON) tools/demo.py

clean:
	rm -rf build work_dirs autola_mm/*.so
