"""Runtime subcommands of the `fer-edge` CLI, one module each (add_arguments + run)."""
