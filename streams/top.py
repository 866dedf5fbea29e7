"""`python -m streams.top`: kept where users call it; the command lives in streams.cli.top."""

from streams.cli.top import main

if __name__ == "__main__":
    raise SystemExit(main())
