"""Human in the loop: tool calls that wait for the user's approval, across requests.

- `policy`: which calls need approval (`require_approval` globs, `"destructive"`, a toolset tool's
  `needs_approval`), given to each request's MCP servers as the Agents SDK's public
  `require_approval` callable.
- `store`: a paused run (the SDK's serialised `RunState`) and its approvals, per conversation.
- `answers`: the user's answers as they arrive (JSON `approvals`, or `useChat` tool parts in state
  `approval-responded`), and what the model is told about a denied call.
- `resume`: the SDK state restored in a fresh tool server, with the stored decisions applied.
- `progress`: MCP progress notifications of a running tool, as transient stream parts.

No process waits for a human: the run's tool server is torn down when it pauses.
"""
