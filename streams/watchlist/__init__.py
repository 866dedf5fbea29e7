"""The watchlist file, its sections, its compiled form and the one reloader."""
