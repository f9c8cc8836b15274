"""``python -m caimg``: the same command line as the ``caimg`` script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
