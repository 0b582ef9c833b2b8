import sys

from archsweep.cli import main

sys.exit(main())
