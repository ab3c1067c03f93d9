# vfbond make targets: shorthands for the scripts (README has the two that matter).
.PHONY: setup demo test test-host lint man bench lab-setup test-lab

# Everything the tests and the demo need on a fresh Debian 12 machine (root).
setup:
	bash scripts/setup.sh

# The newcomer's demo: one lab boot, bond0 failing over under vfbondd.
demo:
	bash scripts/demo.sh

# What CI runs: unit + host tests, then the kernel lab (and the systemd lab).
test:
	bash scripts/test.sh

# Unit and host tests only (seconds; needs root for network namespaces).
test-host:
	.venv/bin/python -m pytest tests/unit tests/host

# What scripts/test.sh runs first: ruff (rules in pyproject.toml), mypy on src/, and lint-imports
# (the layer order in pyproject.toml).
lint:
	.venv/bin/ruff check src tests
	.venv/bin/mypy
	.venv/bin/lint-imports

# Regenerate man/bondctl.1 and man/vfbondd.8 from the argparse parsers (commit them; a unit test
# fails while they are stale).
man:
	bash scripts/manpages.sh

# Failover time, packets lost, daemon CPU and memory, in one lab boot (see BENCHMARKS.md).
bench:
	bash bench/run.sh

# Install the kernel lab (qemu, Debian kernel with bonding, virtme-ng, NetworkManager for the
# guest only) and the project into .venv.  Idempotent.
lab-setup:
	bash lab/setup.sh

# Boot ONE guest and run `pytest -m lab tests/lab` inside it; exit code = pytest's.
# Extra pytest args: make test-lab LAB_ARGS="-k smoke -x"
test-lab:
	bash lab/run.sh $(LAB_ARGS)
