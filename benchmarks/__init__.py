"""Benchmarks (scripts/bench): side by side with Home Assistant's built-in influxdb integration."""
