"""The ``homeport`` command line: thin Typer commands over services."""
