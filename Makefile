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

.PHONY: test demo bench versions lint rust-test stress loom python-dev py-test stubtest rust-demo clean

test: versions lint rust-test stress loom py-test stubtest
	@echo "make test: all passed"

versions:
	@cargo --version; rustc --version; $(PYTHON) --version

lint:
	scripts/check_sync_shim.sh
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings

rust-test:
	cargo test --all-targets
	cargo test --doc

# Release-mode stress tests (torn reads, version order; in-process and across
# processes through shared memory), the chaos test (everything at once, with
# resets and a close) and the allocation count.
stress:
	cargo test --release --test stress --test chaos --test alloc --test shm -- --nocapture

loom:
	RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=$(LOOM_MAX_PREEMPTIONS) \
	  CARGO_TARGET_DIR=target/loom cargo test --release --lib loom

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	touch $@

# Installs the package the way the README says (`pip install .`, maturin
# build backend, release build), with its test extras (pinned in
# pyproject.toml).
python-dev: $(VENV)/.installed
	$(VPY) -m pip install -q ".[test]"

py-test: python-dev
	$(VPY) -m pytest -q tests/python

stubtest: python-dev
	$(VPY) -m mypy.stubtest rtstate --allowlist tests/python/stubtest_allowlist.txt

demo: python-dev
	$(VPY) -m rtstate demo
	cargo build --release --example shared_controller

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
