"""Redis: the key schema, rolling counts, spike state and the Lua scripts."""
