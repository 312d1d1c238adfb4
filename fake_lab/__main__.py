import sys

from fake_lab.cli import main

sys.exit(main())
