"""An operator toolset for the isolation kit tests: one tool keys on the bound user, one does not."""
