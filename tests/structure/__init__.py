"""Checks of the source tree's shape (a package, so its modules do not shadow others)."""
