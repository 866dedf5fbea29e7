"""Offline and operator commands: tag, top, topics."""
