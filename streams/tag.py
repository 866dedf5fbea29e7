"""`python -m streams.tag`: kept where users call it; the command lives in streams.cli.tag."""

from streams.cli.tag import main

if __name__ == "__main__":
    raise SystemExit(main())
