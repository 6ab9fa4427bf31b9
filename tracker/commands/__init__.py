"""One module per sub-command: `setup_arguments(subparsers)` and a plain function tests can call."""
