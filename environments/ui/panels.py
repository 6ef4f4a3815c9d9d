"""Sections that apps above `environments` add to the environment page (the VM-to-EC2 migrations table, say).

`environments` must not import the feature apps, so they register here from their AppConfig.ready(); the page
renders every registered panel in order. Each panel returns its template and context, or None to stay hidden."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class EnvironmentPanel:
    key: str
    order: int
    # (request, environment) -> (template name, context) or None
    render: Callable


_panels: dict[str, EnvironmentPanel] = {}


def register(panel: EnvironmentPanel) -> None:
    _panels[panel.key] = panel  # by key, so a second ready() call replaces rather than repeats


def panels() -> list[EnvironmentPanel]:
    return sorted(_panels.values(), key=lambda p: p.order)
