# myvlm-art: two commands do everything on a fresh machine (see README.md).
#   make report   the whole study on the embedded default (SynthArt + offline models)
#   make test     every test: the notebooks (through pytest) and tests/
SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.myvlm-art-installed
# CONFIG: a study config (YAML; default configs/synthart.yaml, the embedded default); SEED: overrides its seed
# PRECISION: auto (default: bf16 only where this machine computes it natively), fp32 or bf16
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: setup browser report test docs bench export clean-nbs

setup: $(STAMP)

# torch/torchvision first, pinned to the builds on local disk; then the package with every pin
# constrained by the lock file; then the packages whose own dependencies we do not want.
$(STAMP): pyproject.toml requirements/lock.txt requirements/nodeps.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.14.1 torchvision==0.29.1 2> >(grep -v "is ignored: it is neither" >&2)
	$(PIP) install -c requirements/lock.txt -e ".[dev]" 2> >(grep -v "is ignored: it is neither" >&2)
	$(PIP) install --no-deps -r requirements/nodeps.txt 2> >(grep -v "is ignored: it is neither" >&2)
	@touch $@

report: setup
	$(BIN)/myvlm-art report $(if $(CONFIG),--config $(CONFIG)) $(if $(SEED),--seed $(SEED)) $(if $(QUICK),--quick) $(foreach g,$(GATE),--gate $(g)) $(if $(WORKERS),--workers $(WORKERS)) $(if $(PRECISION),--precision $(PRECISION))

# headless Chromium for the report and docs checks, and ChromeDriver for the demo's browser test (Debian's packages)
SUDO := $(if $(filter 0,$(shell id -u)),,$(shell command -v sudo))
browser:
	@{ test -x /usr/bin/chromium && test -x /usr/bin/chromedriver; } || $(SUDO) apt-get install -y --no-install-recommends chromium chromium-driver \
	  || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium chromium-driver; }

# one pytest-xdist worker per core, one thread each (tests/conftest.py); TEST_WORKERS=0 runs them in this process
TEST_WORKERS ?= auto
test: setup browser
	$(BIN)/python -m pytest tests -q -p no:cacheprovider $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist load)

# the documentation site from the notebooks (16_docs): _docs/index.html; PAGES="index gating" builds some pages only
docs: setup
	$(BIN)/myvlm-art docs $(if $(PAGES),--pages $(PAGES)) $(if $(WORKERS),--workers $(WORKERS))

# speed and memory benchmarks (ratios measured side by side): benchmarks/results.csv and figures/bench_*.png
bench: setup
	$(BIN)/python benchmarks/run_all.py $(if $(QUICK),--quick)

# developer helpers: regenerate the package from the notebooks, strip notebook metadata
export: setup
	$(BIN)/nbdev-export
clean-nbs: setup
	$(BIN)/nbdev-clean
