"""Text normalization and the compiled entity matcher (C scanner inside)."""
