"""News pages without I/O: charset, publication time and precision, main text, canonical URL, publisher."""
