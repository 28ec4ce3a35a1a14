# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv on first use and install the project with pip (torch pinned, CPU).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench eval-tracker

$(STAMP): pyproject.toml
	@command -v espeak-ng >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; } \
		|| echo "note: install espeak-ng for spoken questions (apt-get install espeak-ng)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/prism demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/tracker_speed.py

eval-tracker: $(STAMP)
	$(VENV)/bin/prism eval tracker --data-dir ../shared/data/captaincook4d --raw-accuracy 0.55 --seed 0
