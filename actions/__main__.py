"""python -m actions  →  ipp-actions."""

from actions.cli import main

raise SystemExit(main())
