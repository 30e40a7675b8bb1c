"""Run a tool stand-in by its IPP name: python -m ippsim.tools chiptool -revertprocessedimfile -label L."""

import sys

from ippsim.tools import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
