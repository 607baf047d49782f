"""``python -m adcgan.cli`` = the ``adcgan`` command."""
import sys

from adcgan.cli import main

sys.exit(main())
