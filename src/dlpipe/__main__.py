import sys

from dlpipe.cli import main

sys.exit(main())
