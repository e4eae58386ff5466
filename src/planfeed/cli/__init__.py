"""The ``planfeed`` command: server administration (and, later, client subcommands)."""
