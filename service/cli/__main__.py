"""`python -m service.cli`: the same command line as `twinning`."""

from service.cli import main

main()
