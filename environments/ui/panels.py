"""Tabs that apps above `environments` add to the environment page (the VM-to-EC2 migrations table, say), and
sections they add to the imported instance page.

`environments` must not import the feature apps, so they register here from their AppConfig.ready(); each
registered panel becomes a tab of the environment page, with its own URL. A panel's `need` is what reading it
takes (a role it refuses gets 403, as from any page's gate); its `render` returns its template and context, or None
to stay hidden (the tab then answers 404)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.querysets import Need


@dataclass(frozen=True)
class EnvironmentPanel:
    key: str
    order: int
    # (request, environment) -> (template name, context) or None
    render: Callable
    label: str = ""
    need: Need | None = None


_panels: dict[str, EnvironmentPanel] = {}


def register(panel: EnvironmentPanel) -> None:
    _panels[panel.key] = panel  # by key, so a second ready() call replaces rather than repeats


def panels() -> list[EnvironmentPanel]:
    return sorted(_panels.values(), key=lambda p: p.order)


def panel(key: str) -> EnvironmentPanel | None:
    return _panels.get(key)


@dataclass(frozen=True)
class InstanceSection:
    key: str
    order: int
    # (request, instance) -> (template name, context) or None
    render: Callable


_instance_sections: dict[str, InstanceSection] = {}


def register_instance_section(section: InstanceSection) -> None:
    _instance_sections[section.key] = section


def instance_sections() -> list[InstanceSection]:
    return sorted(_instance_sections.values(), key=lambda s: s.order)


def plug_in(*, key: str, order: int, label: str, panel: Callable, section: Callable, need: Need | None = None) -> None:
    """What a feature app shows of an environment (a tab) and of an instance (its rows on the instance page),
    registered from its `AppConfig.ready()`: this app may not import it."""
    register(EnvironmentPanel(key=key, order=order, render=panel, label=label, need=need))
    register_instance_section(InstanceSection(key=key, order=order, render=section))
