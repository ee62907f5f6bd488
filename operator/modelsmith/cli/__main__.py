"""`python -m modelsmith.cli`: the `modelsmith` command without its installed script (the
test bed and the images start the operator this way)."""

import sys

from modelsmith.cli import main

sys.exit(main())
