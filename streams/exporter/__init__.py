"""Prometheus exporter of the rolling counts in Redis (`python -m streams.exporter`)."""
