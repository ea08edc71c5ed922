"""Reading back: one read-only query against an entry's target, in the language its flavour speaks.

The statement check, queries built from parts, the query endpoints per API version and their
answers as rows. May import `target`, `lines` and `const`; never `pipeline`, `history` or the top level.
"""
