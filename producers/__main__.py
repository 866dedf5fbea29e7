"""Entry point: `python -m producers <command>` (see producers/cli.py and docs/producers.md)."""

from producers.cli import main

raise SystemExit(main())
