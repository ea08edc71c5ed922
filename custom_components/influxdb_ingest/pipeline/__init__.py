"""The pipeline from the bus to the wire: listener, buffer, serializer, backlog and spool, delivery, writer.

Also what the pipeline counts (stats) and the knobs it runs by (settings). May import `target`,
`lines` and `const`; never `history` or the integration's top level.
"""
