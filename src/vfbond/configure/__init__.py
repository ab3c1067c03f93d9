"""Config to a running bond: the plan, its apply and verification, retried until it holds."""
