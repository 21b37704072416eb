"""Governance of the margin parameters of a derivatives exchange (isolated margin)."""
