"""Conversations: ownership, history (the Agents SDK's session memory) and records of runs."""
