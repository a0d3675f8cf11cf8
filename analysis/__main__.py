"""python -m analysis results/<campaign>: rebuild the campaign's analysis/ directory."""

import sys

from textrl.commands.report import main

sys.exit(main(sys.argv[1:]))
