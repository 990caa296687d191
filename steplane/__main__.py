"""`python -m steplane ...`: the `steplane` command line."""

from steplane.local_emulator.cli import main

main()
