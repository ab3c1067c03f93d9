"""Typed events, their persisted history, and the reporter that hands them to the sinks."""
