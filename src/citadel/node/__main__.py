"""`python -m citadel.node`: the same as `citadel node`."""

import sys

from citadel.node.main import main

sys.exit(main())
