"""The reference booking page: server-rendered, eight languages, accessible."""
