"""newsmon producers: articles onto Kafka from feeds, files, replays and HTTP."""
