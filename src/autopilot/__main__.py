"""`python -m autopilot` runs the CLI."""

from autopilot.cli import main

main()
