"""A row of an environment refuses related rows of another environment, each as the user's error on its field
(EnvironmentResource.same_environment)."""

import pytest
from django.core.exceptions import ValidationError

from environments.models import Environment, ImportedInstance, SecurityGroup, Subnet, Template
from lifecycle.backups.models import BackupTask


def test_a_related_row_of_another_environment_is_refused_on_its_field():
    here, there = Environment(pk=1), Environment(pk=2)
    with pytest.raises(ValidationError) as refused:
        Template(environment=here, subnet=Subnet(pk=3, environment=there),
                 security_group=SecurityGroup(pk=4, environment=here)).clean()
    assert refused.value.message_dict == {"subnet": ["It must belong to the template's environment."]}
    with pytest.raises(ValidationError) as refused:
        BackupTask(environment=here, instance=ImportedInstance(pk=5, environment=there)).clean()
    assert refused.value.message_dict == {"instance": ["It must belong to the backup's environment."]}


def test_related_rows_of_the_same_environment_pass():
    here = Environment(pk=1)
    Template(environment=here, subnet=Subnet(pk=3, environment=here),
             security_group=SecurityGroup(pk=4, environment=here)).clean()
    BackupTask(environment=here, instance=ImportedInstance(pk=5, environment=here)).clean()
