"""The staff console: document register, live box picture, actions (server-rendered, Jinja2)."""
