"""Every job kind's list filters on several of its own states at once (core.api.filters.JobFilter) and refuses a
state the kind does not have."""

import pytest
from django.http import QueryDict

from exports.api.views import ExportFilter
from lifecycle.api.views import BackupFilter, LaunchFilter
from migrations_app.api.views import MigrationFilter

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("filterset", [ExportFilter, BackupFilter, LaunchFilter, MigrationFilter])
def test_a_job_list_takes_several_states_of_its_kind(filterset):
    model = filterset._meta.model
    states = [value for value, _ in model._meta.get_field("state").choices][:2]
    chosen = filterset(data=QueryDict("&".join(f"state={s}" for s in states)), queryset=model.objects.none())
    assert chosen.is_valid(), chosen.errors
    assert chosen.form.cleaned_data["state"] == states
    assert not filterset(data=QueryDict("state=nonsense"), queryset=model.objects.none()).is_valid()
