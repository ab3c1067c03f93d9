"""Pure logic: slave verdicts, which slave should be active, events from two readings, carrier times, flap limits."""
