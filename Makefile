# The README's two commands are `make demo` and `make test`; each does its own
# set-up (virtualenv, Python packages, build). `.ci/run` calls `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
export CARGO_TERM_COLOR ?= never
# loom: bounded preemptions keep the models to a few minutes on 2 cores.
LOOM_MAX_PREEMPTIONS ?= 2

.PHONY: test demo demo-install bench versions lint rust-test stress loom python-dev py-test stubtest rust-demo clean

test: versions lint rust-test stress loom py-test stubtest
	@echo "make test: all passed"

versions:
	@cargo --version; rustc --version; $(PYTHON) --version

lint:
	@echo "==> lint: sync shim, rustfmt, clippy (with and without the python feature)"
	scripts/check_sync_shim.sh
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings

rust-test:
	@echo "==> cargo test (every target, then the doctests)"
	cargo test --all-targets
	cargo test --doc

# Release-mode stress tests (torn reads, version order) and the allocation count.
stress:
	@echo "==> release-mode stress tests and the allocation count"
	cargo test --release --test stress --test alloc -- --nocapture

loom:
	@echo "==> loom models (release build under --cfg loom, a few minutes)"
	RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=$(LOOM_MAX_PREEMPTIONS) \
	  CARGO_TARGET_DIR=target/loom cargo test --release --lib loom

# pip's own output (not -q): what it downloads and builds. PIP_FLAGS=-v
# also shows cargo compiling each crate.
PIP_FLAGS ?=

$(VENV)/.installed: pyproject.toml
	@echo "==> creating the virtualenv $(VENV) ($(PYTHON))"
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --upgrade pip
	touch $@

# Installs the package the way the README says (`pip install .`, maturin
# build backend, release build), with its test extras (pinned in
# pyproject.toml).
python-dev: $(VENV)/.installed
	@echo "==> pip install '.[test]': the pinned test tools, then a release build of"
	@echo "    the Rust extension with maturin (about 1.5 min on 2 cores; PIP_FLAGS=-v shows cargo)"
	$(VPY) -m pip install $(PIP_FLAGS) ".[test]"
	@echo "==> installed: $$($(VPY) -c 'import rtstate; print(rtstate.__file__)')"

# The demo's set-up: the package and what the demo uses (no test tools).
demo-install: $(VENV)/.installed
	@echo "==> pip install '.[demo]': numpy and pint, then a release build of the"
	@echo "    Rust extension with maturin (about 1.5 min on 2 cores; PIP_FLAGS=-v shows cargo)"
	$(VPY) -m pip install $(PIP_FLAGS) ".[demo]"

py-test: python-dev
	@echo "==> pytest tests/python"
	$(VPY) -m pytest -q tests/python

stubtest: python-dev
	@echo "==> stubtest: the .pyi stubs against the built module"
	$(VPY) -m mypy.stubtest rtstate --allowlist tests/python/stubtest_allowlist.txt

demo: demo-install
	@echo "==> python -m rtstate demo"
	$(VPY) -m rtstate demo

rust-demo:
	cargo run --release --example drone_state

bench: python-dev
	cargo bench --bench buffers
	$(VPY) benches/criterion_table.py
	cargo bench --bench control_loop
	cargo bench --bench scaling
	$(VPY) benches/python/bench_vs_baseline.py
	$(VPY) benches/python/bench_loop.py
	$(VPY) benches/python/bench_wakeup.py

clean:
	cargo clean
	rm -rf $(VENV)
