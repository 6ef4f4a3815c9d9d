"""A kind declares its admission policy as an instance with its own parameters, or as the dotted path of one."""

from __future__ import annotations

import dataclasses

import pytest

from lifecycle.launches.job import LAUNCH
from core.jobs.admission import PerScopeLimit


def test_a_limit_takes_its_parameters_and_keeps_the_defaults_of_the_others(settings):
    settings.LAUNCH_MAX_ACTIVE_PER_REGION = 3
    limit = PerScopeLimit(kind_name="launch", setting_name="LAUNCH_MAX_ACTIVE_PER_REGION")
    assert (limit.kind_name, limit.scope_field, limit.limit()) == ("launch", "region_id", 3)
    assert PerScopeLimit().setting_name == ""


def test_a_misspelt_parameter_is_refused():
    with pytest.raises(TypeError, match="scope_feld"):
        PerScopeLimit(scope_feld="region_id")


def test_a_kind_answers_its_declared_policy_or_instantiates_its_path():
    assert LAUNCH.admission_policy() is LAUNCH.admission
    by_path = dataclasses.replace(LAUNCH, admission="core.jobs.admission.PerScopeLimit").admission_policy()
    assert type(by_path) is PerScopeLimit
    assert dataclasses.replace(LAUNCH, admission=None).admission_policy() is None
