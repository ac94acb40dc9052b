"""File space and file tool tests; a package, so this conftest does not shadow the root one."""
