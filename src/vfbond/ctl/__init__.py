"""Operators' side: bondctl, the control socket protocol, doctor, diagnosis, day0 rendering, exit codes."""
