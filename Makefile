# vfbond make targets.  Kernel lab: see lab/setup.sh and lab/run.sh.
.PHONY: lab-setup test-lab

# Install the kernel lab (qemu, Debian kernel with bonding, virtme-ng, NetworkManager for the
# guest only) and the project into .venv.  Idempotent.
lab-setup:
	bash lab/setup.sh

# Boot ONE guest and run `pytest -m lab tests/lab` inside it; exit code = pytest's.
# Extra pytest args: make test-lab LAB_ARGS="-k smoke -x"
test-lab:
	bash lab/run.sh $(LAB_ARGS)
