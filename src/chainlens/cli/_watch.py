"""``chainlens watch add|list|remove [SYMBOL] [--store DIR] [--json]``: the user's watch list.

Symbols are OSI option symbols kept in the store (``watchlist.json``); each flow report checks
them, with the report's own watch items, on the next session (confirmed / rolled / closed /
unwound; :mod:`chainlens.report._watch`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from chainlens.cli._common import JsonOpt, StoreOpt

__all__ = ["register"]

_ACTIONS = ("add", "list", "remove")


def register(app: typer.Typer) -> None:
    """Add ``watch`` to ``app``."""

    @app.command("watch")
    def watch(
        action: str = typer.Argument(..., help="add, list or remove."),
        symbol: str | None = typer.Argument(None, help="OSI option symbol (add/remove)."),
        store: Path = StoreOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Keep a watch list of option contracts; flow reports follow them up the next session."""
        from chainlens.cli._common import console, emit_json
        from chainlens.errors import InputError
        from chainlens.report._watch import add_watch, list_watch, remove_watch
        from chainlens.store import Store

        if action not in _ACTIONS:
            raise InputError(
                f"action must be one of {', '.join(_ACTIONS)}", column="ACTION", value=action
            )
        if action != "list" and not symbol:
            raise InputError(
                f"watch {action} needs an OSI option symbol", column="SYMBOL", value=""
            )
        with Store(store, create=False, read_only=action == "list") as st:
            if action == "add":
                items = add_watch(st, str(symbol))
            elif action == "remove":
                items = remove_watch(st, str(symbol))
            else:
                items = list_watch(st)
        if as_json:
            emit_json(items)
            return
        if not items:
            console.print("watch list is empty")
            return
        for i in items:
            console.print(f"{i['symbol']}  (added {i['added']})", highlight=False)
