"""Full text for summary-only feed entries: polite page fetching and merging the page into the entry."""
