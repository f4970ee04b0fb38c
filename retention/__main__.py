"""`python -m retention` runs the command-line tool."""

from retention.cli import main

main()
