"""``python -m lsexplorer`` runs the command-line interface."""

import sys

from .cli.signals import install_stop_handlers, report_stop

install_stop_handlers()  # before the command's imports, so that an early SIGTERM still ends in one line
try:
    from .cli.commands import main
except KeyboardInterrupt as exc:
    sys.exit(report_stop("lsexplorer", exc, None))

sys.exit(main())
