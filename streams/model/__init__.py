"""Messages and settings: the shapes every room shares (no I/O)."""
