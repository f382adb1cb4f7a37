from osq_esf.cli import main

raise SystemExit(main())
