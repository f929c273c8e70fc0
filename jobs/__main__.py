"""`python -m jobs`: the arq worker under a supervisor that rides out Redis restarts."""

from jobs.supervise import main

raise SystemExit(main())
