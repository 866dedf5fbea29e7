"""`python -m streams.topics`: kept where users call it; the command lives in streams.cli.topics."""

from streams.cli.topics import main

if __name__ == "__main__":
    raise SystemExit(main())
