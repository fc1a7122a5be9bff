"""``python -m rtpose.cli``: the ``rtpose`` command."""

from rtpose.cli import main

main()
