"""An operator toolset for the approval tests: a tool the user must approve, which reports progress."""
