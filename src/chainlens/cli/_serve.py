"""``chainlens serve [--store DIR] [--host 127.0.0.1] [--port 8765]``: the local dashboard.

A thin layer over :func:`chainlens.serve.create_app` and uvicorn. Binds the loopback address
by default; any other ``--host`` prints a warning (the dashboard has no authentication).
"""

from __future__ import annotations

from pathlib import Path

import typer

from chainlens.cli._common import StoreOpt, console_err

__all__ = ["register"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""

    @app.command("serve")
    def serve(
        store: Path = StoreOpt,
        host: str = typer.Option(
            "127.0.0.1", "--host", help="Address to bind (loopback by default)."
        ),
        port: int = typer.Option(8765, "--port", min=1, max=65535, help="TCP port."),
    ) -> None:
        """Serve the dashboard and the /api/v1 JSON API over a store (read-only)."""
        import uvicorn

        from chainlens.serve import create_app

        web = create_app(store, warm=True)
        if host not in LOOPBACK:
            console_err.print(
                f"[bold yellow]warning:[/] binding {host}: the dashboard has no authentication; "
                "anyone who can reach this address can read the store's results",
                highlight=False,
            )
        console_err.print(
            f"chainlens serve: http://{host}:{port}/ (store {store})", highlight=False
        )
        uvicorn.run(web, host=host, port=port, log_level="warning", server_header=False)
