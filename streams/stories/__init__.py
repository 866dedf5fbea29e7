"""Story assignment: near-duplicate articles (syndicated copies) grouped into stories (docs/stories.md)."""
