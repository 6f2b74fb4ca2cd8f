#!/usr/bin/env python3
"""Serve moto on 127.0.0.1 on a port the kernel picks, and write that port to a file.

Binding port 0 in this process leaves no moment in which another server can
take the port between choosing and binding it, so a test never ends up
talking to another test's moto.

Usage: moto_server.py PORT_FILE
"""

import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def main() -> None:
    port_file = sys.argv[1]
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    port = server.socket.getsockname()[1]
    os.environ["MOTO_PORT"] = str(port)

    # Write to a temporary name and rename, so the reader never sees a partial number.
    with open(port_file + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(f"{port}\n")
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
