from chaos.harness import main

raise SystemExit(main())
