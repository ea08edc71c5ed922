"""The lines a state becomes: the data model's pure functions, from a Home Assistant state to line protocol.

Layouts (normalize, normalize_builtin), escaping (names, line_protocol), per-entity line caches and the
column budget. May import nothing of this integration but `const`: no I/O, no state of its own.
"""
