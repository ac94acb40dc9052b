"""Test support: servers on loopback, scripted models, process inspection."""
