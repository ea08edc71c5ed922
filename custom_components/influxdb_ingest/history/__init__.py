"""History: backfill jobs that copy the recorder, its statistics or another InfluxDB 1.x into the target.

A job writes through the live pipeline's writer in the gaps of the live stream. May import
`pipeline`, `target`, `lines` and `const`.
"""
