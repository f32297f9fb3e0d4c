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

.PHONY: test demo demo-install bench bench-quick versions lint rust-test stress loom python-dev py-test stubtest rust-demo clean zenoh-test zenoh-bench

test: versions lint rust-test stress loom zenoh-test py-test stubtest
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
	cargo test --features record --lib record
	cargo test --features record --test record
	cargo test --features serve --test serve
	cargo test --doc

# The Zenoh bridge (crates/rtstate-zenoh, its own workspace crate so that
# the core builds without Zenoh): its lint and its tests (two Zenoh sessions
# on unix sockets and loopback TCP, in one process and across two). Its
# first build compiles Zenoh (TCP and unix-socket transports only).
zenoh-test:
	@echo "==> rtstate-zenoh: clippy and tests (the Zenoh bridge)"
	cargo clippy -p rtstate-zenoh --all-targets -- -D warnings
	cargo test -p rtstate-zenoh

# Release-mode stress tests (torn reads, version order; in-process and across
# processes through shared memory), the chaos test (everything at once, with
# resets and a close) and the allocation count.
stress:
	@echo "==> release-mode stress tests (in-process and shared memory), the chaos test and the allocation count"
	cargo test --release --test stress --test chaos --test alloc --test shm -- --nocapture

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

# The flight is recorded to demo.mcap (open it in Foxglove) and drawn to
# demo.png (trajectory vs setpoints, loop period histograms).
demo: demo-install
	@echo "==> python -m rtstate demo --mcap demo.mcap --png demo.png"
	$(VPY) -m rtstate demo --mcap demo.mcap --png demo.png
	cargo build --release --example shared_controller

rust-demo:
	cargo run --release --example drone_state

# Every benchmark, each row against its peers in the same run; criterion's
# medians become Markdown tables with target verdicts (criterion_table.py).
# BENCH_ARGS go to criterion (bench-quick shortens each row), PY_BENCH_ARGS
# to bench_vs_baseline.py; RTSTATE_LOOP_SECS and RTSTATE_SCALING_SECS set
# the loop and scaling benches' lengths.
BENCH_ARGS ?=
PY_BENCH_ARGS ?=
WAKEUP_ARGS ?=
BENCH_MARK := target/bench-run-start

bench: python-dev
	mkdir -p target && touch $(BENCH_MARK)
	cargo bench --bench buffers -- $(BENCH_ARGS)
	$(VPY) benches/criterion_table.py --since $(BENCH_MARK)
	cargo bench --bench control_loop
	cargo bench --bench scaling
	$(VPY) benches/python/bench_vs_baseline.py $(PY_BENCH_ARGS)
	$(VPY) benches/python/bench_loop.py
	$(VPY) benches/python/bench_wakeup.py $(WAKEUP_ARGS)
	cargo run --release --features record --example record_cost
	cargo run --release --features serve --example serve_cost
	$(MAKE) zenoh-bench

# The Zenoh bridge against bare Zenoh in the same run (p50/p99), and the
# publish cost with the exporter attached against one subscription.
zenoh-bench:
	cargo run --release -p rtstate-zenoh --example bridge_latency

# The same rows, shorter (a few minutes on 2 cores): for a look, not for the
# README's figures.
bench-quick:
	RTSTATE_LOOP_SECS=2 RTSTATE_SCALING_SECS=0.2 $(MAKE) bench \
	  BENCH_ARGS="--warm-up-time 0.5 --measurement-time 1 --sample-size 10" \
	  PY_BENCH_ARGS=--quick WAKEUP_ARGS="2000 2"

clean:
	cargo clean
	rm -rf $(VENV)
