"""``python -m lsexplorer`` runs the command-line interface."""

from .cli.signals import install_stop_handlers, leave, report_stop

install_stop_handlers()  # before the command's imports, so that an early SIGTERM still ends in one line
try:
    from .cli.commands import main
except KeyboardInterrupt as exc:
    leave(report_stop("lsexplorer", exc, None))

leave(main())
