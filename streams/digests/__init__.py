"""Digests: what happened about the watched entities in each period, as one message per digest and period."""
