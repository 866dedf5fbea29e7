"""`python -m streams.exporter`: serve the Redis counts on /metrics."""

from streams.exporter.server import main

raise SystemExit(main())
