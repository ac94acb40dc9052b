"""Streaming responses: the AI SDK UI message stream protocol over Server-Sent Events."""
