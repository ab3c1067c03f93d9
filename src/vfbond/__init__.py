"""vfbond: bonding and failover supervisor for SR-IOV VFs inside a guest."""

__version__ = "0.1.0"
