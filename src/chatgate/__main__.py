"""`python -m chatgate` is the `chatgate` command."""

from chatgate.cli import main

raise SystemExit(main())
