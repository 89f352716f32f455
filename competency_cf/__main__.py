"""`python -m competency_cf` is the `competency-cf` command."""

from competency_cf.cli import main

raise SystemExit(main())
