"""Where VFBOND-MIB (mib/VFBOND-MIB.txt) sits in the OID tree: the trap sink and the poll agent share it.

vfbondMIB ::= { enterprises 32473 61 }; 32473 is the RFC 5612 documentation PEN. A site with its own
PEN moves the subtree here and in the MIB's module identity together.
"""

SNMP_ROOT = "1.3.6.1.4.1.32473.61"
STATE_ROOT = f"{SNMP_ROOT}.3"  # vfbondState: the bond and slave tables pollers read
