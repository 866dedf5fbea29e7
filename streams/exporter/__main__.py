"""`python -m streams.exporter`: serve the Redis counts on /metrics."""

from streams.exporter.collector import main

raise SystemExit(main())
