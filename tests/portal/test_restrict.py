"""The one permission path: tenant scope first, then role, then guardian object permissions."""

from django.contrib.auth.models import Permission
from guardian.shortcuts import assign_perm

from core.roles import Action
from environments import services as env_services
from environments.choices import EnvironmentRole
from environments.models import Environment, EnvironmentUserObjectPermission, Template


def test_users_see_exactly_the_environments_granted_to_them(world):
    a = world.a
    assert set(Environment.objects.restrict(a.user_ro, Action.VIEW)) == {a.environment}
    assert not Environment.objects.restrict(a.user_ro, Action.OPERATE).exists()
    assert set(Environment.objects.restrict(a.user_general, Action.OPERATE)) == {a.environment}
    assert not Environment.objects.restrict(a.user_general, Action.MANAGE).exists()
    assert set(Environment.objects.restrict(a.user_owner, Action.MANAGE)) == {a.environment}
    assert not Environment.objects.restrict(a.user_nogrant, Action.VIEW).exists()


def test_admins_and_auditors_see_their_whole_tenant_and_nothing_else(world):
    a, b = world.a, world.b
    mine = {a.environment, a.other_environment, a.default_environment}
    assert set(Environment.objects.restrict(a.admin, Action.ADMIN)) == mine
    assert set(Environment.objects.restrict(a.auditor, Action.VIEW)) == mine
    assert not Environment.objects.restrict(a.auditor, Action.OPERATE).exists()
    assert not Environment.objects.restrict(b.admin, Action.VIEW).filter(tenant=a.tenant).exists()


def test_a_model_level_permission_never_widens_past_the_grant_or_the_tenant(world):
    a, b = world.a, world.b
    for codename in ("view_environment", "operate_environment", "manage_environment"):
        a.user_nogrant.user_permissions.add(Permission.objects.get(codename=codename))
        b.user_ro.user_permissions.add(Permission.objects.get(codename=codename))
    assert not Environment.objects.restrict(a.user_nogrant, Action.VIEW).exists()
    assert set(Environment.objects.restrict(b.user_ro, Action.VIEW)) == {b.environment}


def test_a_guardian_grant_on_another_tenants_environment_is_ignored(world):
    a, b = world.a, world.b
    # Written around the service on purpose: even a stray row cannot cross tenants.
    assign_perm("environments.view_environment", a.user_nogrant, b.environment)
    assert not Environment.objects.restrict(a.user_nogrant, Action.VIEW).exists()


def test_group_grants_apply_to_members(world):
    a = world.a
    env_services.environment_grant(actor=a.admin, environment=a.other_environment, principal=a.group,
                                   role=EnvironmentRole.GENERAL)
    assert set(Environment.objects.restrict(a.user_nogrant, Action.OPERATE)) == {a.other_environment}
    assert not Environment.objects.restrict(a.user_ro, Action.VIEW).filter(pk=a.other_environment.pk).exists()


def test_children_follow_their_environment(world):
    a = world.a
    assert set(Template.objects.restrict(a.user_ro, Action.VIEW)) == {a.template}
    assert not Template.objects.restrict(a.user_general, Action.MANAGE).exists()
    assert set(Template.objects.restrict(a.user_owner, Action.MANAGE)) == {a.template}


def test_superusers_and_inactive_users_get_no_tenant_data(world):
    a = world.a
    assert not Environment.objects.restrict(world.platform, Action.VIEW).exists()
    a.user_ro.is_active = False
    a.user_ro.save()
    assert not Environment.objects.restrict(a.user_ro, Action.VIEW).exists()


def test_revocation_applies_on_the_next_query(world):
    a = world.a
    assert Environment.objects.restrict(a.user_general, Action.OPERATE).exists()
    env_services.environment_revoke(actor=a.admin, environment=a.environment, principal=a.user_general)
    assert not Environment.objects.restrict(a.user_general, Action.VIEW).exists()


def test_deleting_an_environment_deletes_its_grants_and_a_reused_id_inherits_nothing(world):
    a = world.a
    env = a.other_environment
    env_services.environment_grant(actor=a.admin, environment=env, principal=a.user_nogrant,
                                   role=EnvironmentRole.OWNER)
    pk = env.pk
    env_services.environment_delete(actor=a.admin, environment=env)
    assert not EnvironmentUserObjectPermission.objects.filter(content_object_id=pk).exists()
    reborn = Environment.objects.create(pk=pk, tenant=a.tenant, region=a.region, name="reborn",
                                        vpc_id="vpc-0ddddddddddddddd1")
    assert not Environment.objects.restrict(a.user_nogrant, Action.VIEW).filter(pk=reborn.pk).exists()


def test_unknown_actions_are_refused_not_guessed(world):
    import pytest

    with pytest.raises(ValueError):
        Environment.objects.restrict(world.a.admin, "delete")
