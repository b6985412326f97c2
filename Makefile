VENV ?= .venv
PY ?= python3
BIN := $(VENV)/bin

.PHONY: venv test lint bench clean

$(BIN)/deployplay: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/deployplay

test: venv
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: venv
	$(BIN)/ruff check .

bench: venv
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# The whole release workflow on this machine (no SSH, no root): see scripts/demo.py.
.PHONY: demo
demo: venv
	$(BIN)/python scripts/demo.py
