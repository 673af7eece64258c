# Two commands set everything up: `make demo` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Any torch in pyproject's range works; this pin is what CI installs (a CPU build on our machines).
TORCH_VERSION ?= 2.13.0
LESSON ?= 01-copy-through

.PHONY: demo test lab lecture release bench clean

$(VENV)/installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

.venv: $(VENV)/installed

demo: $(VENV)/installed  ## build the student release and grade a demo class end to end
	$(PY) -m autograder demo --out demo-out

# Two test processes: while one waits (nbgrader starting, a browser drawing) or trains on one core,
# the other uses the second. Each grading test still runs its own two grading workers.
test: $(VENV)/installed  ## the whole test suite
	$(PY) -m pytest -n 2

lab: $(VENV)/installed  ## JupyterLab on the student notebooks
	$(VENV)/bin/jupyter lab lessons/

lecture: $(VENV)/installed  ## a lesson's demos without code (Voila): make lecture LESSON=01-copy-through
	cd solutions/$(LESSON) && ../../$(VENV)/bin/voila $(LESSON).ipynb

release: $(VENV)/installed  ## regenerate lessons/ from solutions/
	$(PY) -m autograder release

clean:
	rm -rf demo-out .pytest_cache

bench: $(VENV)/installed  ## benchmarks: writes benchmarks/results.json and BENCHMARKS.md
	$(PY) -m benchmarks
