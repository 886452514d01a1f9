import sys

from robustcheck.cli import main

sys.exit(main())
