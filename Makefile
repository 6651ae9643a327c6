# vitlab: the two commands. Each does its own set-up on a fresh Debian machine (Python 3.11, root or sudo).
#   make demo   compress the reference model (prune → recover → quantize → export → measure) into runs/demo
#   make measure  evaluate the reference model and print its measurement table beside DeiT-Tiny/Small
#   make test   every notebook (nbdev_test), pytest tests/, nbdev hygiene, and the offline docs check
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.vitlab-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export TQDM_MININTERVAL := 5

.PHONY: demo measure test setup data chromium test-nbs test-py hygiene docs docs-check clean

demo: setup data
	$(BIN)/vitlab_compress --out runs/demo --overwrite

measure: setup data
	$(BIN)/vitlab_measure

test: setup data chromium
	@start=$$(date +%s); set -e; \
	$(MAKE) --no-print-directory hygiene test-nbs test-py docs-check; \
	echo "make test: all checks passed in $$(( $$(date +%s) - start )) s"

setup: $(STAMP)

# The torch + CUDA wheels are several GB: this runs once, until settings.ini or setup.py change.
$(STAMP): settings.ini setup.py
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev,runtimes]"
	touch $(STAMP)

data:
	@if ! ls /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte* >/dev/null 2>&1 && [ -z "$$VITLAB_DATA" ]; then \
	  echo "installing Fashion-MNIST (Debian package dataset-fashion-mnist)"; \
	  $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q dataset-fashion-mnist; fi

# the docs check: headless Chromium, and KaTeX to typeset math offline
chromium:
	@{ command -v chromium >/dev/null && [ -f /usr/share/javascript/katex/katex.min.js ]; } || \
	  { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium libjs-katex; }

hygiene:
	bash scripts/check_nbdev_clean.sh

# two notebooks at a time, one intra-op thread each: two threads apiece would spin against each other on 2 cores
test-nbs:
	cd nbs && OMP_NUM_THREADS=1 ../$(BIN)/nbdev_test --n_workers 2 --timing

test-py:
	$(BIN)/python -m pytest -q tests

docs:
	$(BIN)/python scripts/build_docs.py

docs-check: docs
	$(BIN)/python scripts/check_docs.py

clean:
	rm -rf _docs _proc
