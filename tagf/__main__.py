import sys

from tagf.cli import main

sys.exit(main())
