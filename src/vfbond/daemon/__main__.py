"""`python -m vfbond.daemon`: the same as the vfbondd command."""

import sys

from vfbond.daemon import main

sys.exit(main())
