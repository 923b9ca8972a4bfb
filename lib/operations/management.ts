// Management APIs (didit-api.md §4, §6.5): workflows, blocklist, webhook destinations.

export {};
