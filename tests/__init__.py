"""Tests for InfluxDB Ingest."""
