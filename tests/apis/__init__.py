"""Tests of the HTTP API tools (a package, so its conftest does not shadow the root one)."""
