"""The operator's toolkit: Python tools that chatgate serves in each user's own tool server.

```python
from typing import Annotated
from pydantic import Field
from chatgate.toolkit import Toolset, ToolContext, ToolError

toolset = Toolset("crm")

@toolset.tool(read_only=True)
async def crm_find_contact(
    ctx: ToolContext, query: Annotated[str, Field(description="Text to look for in names and emails.")]
) -> dict:
    \"\"\"Find the user's contacts whose name or email contains the text.\"\"\"
    async with ctx.db() as session:
        ...  # queries filtered by ctx.user.id
```

List the module in `CHATGATE_CONFIG` (`[[toolsets]] module = "crm.tools"`). A tool acts for the bound
user only: `ctx.user`, `ctx.db()`, `ctx.files`, `ctx.http(api)` and `ctx.log` are already bound, and
a parameter named like a user id (`user_id`, `owner`, `tenant_id`, …) refuses start-up. Raise
`ToolError` for what the model may read; any other exception is withheld from it and logged.
See docs/operators.md.
"""

from chatgate.toolsets.context import ToolContext, ToolFiles, ToolHttp, ToolUser
from chatgate.toolsets.definition import ToolDefinition, ToolError, Toolset

__all__ = ["ToolContext", "ToolDefinition", "ToolError", "ToolFiles", "ToolHttp", "ToolUser", "Toolset"]
