"""``python -m tasks`` is the ``medgrad`` command."""

from tasks.cli import main

raise SystemExit(main())
