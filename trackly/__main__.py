from trackly.cli import main

raise SystemExit(main())
