"""`python -m ippsim.pantasks` runs the simulated pantasks_client."""

import sys

from ippsim.pantasks.client import main

sys.exit(main())
