"""Spike detector math on the stream clock: measure windows, decide fire/resolve."""
