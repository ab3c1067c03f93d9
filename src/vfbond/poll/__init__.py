"""What pollers ask vfbondd: the SNMP pass_persist agent and its view of the status."""
