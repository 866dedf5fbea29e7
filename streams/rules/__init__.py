"""Per-article boolean rules over entity ids: parse, validate, evaluate."""
