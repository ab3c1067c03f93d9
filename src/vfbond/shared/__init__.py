"""Vocabulary every layer shares: events, faults, exit codes and the control protocol's client side."""
