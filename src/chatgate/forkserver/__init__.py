"""The fork machinery: a warm template process that forks single-use tool servers.

- `template` — the template process's entry point (`python -m chatgate.forkserver.template`).
- `warmup` — what the template imports and exercises once, so every child starts warm.
- `template_loop` — the template's loop: authenticate requests, hand each a spare, reap, limit.
- `spares` — a spare child: forked ahead of demand, its pipes and pidfd.
- `protocol` — the private channel between the API process and the template (frames, names).
- `forked` — a spare child: wait for its binding, then serve one user over stdio.

The API-process side is `chatgate.launcher.fork` and `chatgate.launcher.template_client`; the tool
server itself (`chatgate.mcp_server`) does not know it was forked.
"""
