"""The supervisor and its one executor, probing, VF quirks (MAC lock, PF reset), simulate-failover, faults."""
