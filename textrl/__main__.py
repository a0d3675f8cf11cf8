import sys

from textrl.cli import main

sys.exit(main())
