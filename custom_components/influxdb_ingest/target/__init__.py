"""The target server: where and how to reach an InfluxDB, one POST per API version, and its answers.

Typed errors, the field-type healer that reads the server's refusals. May import `lines` and `const`.
"""
