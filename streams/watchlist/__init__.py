"""The watchlist file, its compiled form (matcher, rules, spikes, receivers) and the one reloader."""
