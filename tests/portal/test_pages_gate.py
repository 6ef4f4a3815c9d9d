"""The page gate's own rules beyond the matrix: declarations that cannot be answered fail at import, ids that cannot
name a row are 404 before any query, and `submit()` does nothing but on a POST."""

import pytest
from django.http import Http404
from django.test import RequestFactory

from core.forms import submit
from core.pages import one, page
from core.querysets import Need
from core.roles import Action
from environments.models import Environment


def test_a_page_must_declare_a_need():
    with pytest.raises(TypeError):
        page()


def test_a_need_without_a_model_fails_at_declaration():
    with pytest.raises(TypeError):
        page(get=Need(Action.VIEW))
    assert page(get=Need(Action.VIEW), row=Environment)  # the row's model answers for it


@pytest.mark.parametrize("pk", [None, "", "abc", "0", "-1", "1.5", "٣", "9" * 30, 2**63])
def test_an_id_that_names_no_row_is_404(db, pk):
    with pytest.raises(Http404):
        one(Environment.objects.all(), pk)


def test_one_finds_only_in_its_restricted_queryset(world):
    a = world.a
    assert one(Environment.objects.restrict(a.user_ro, Action.VIEW), str(a.environment.pk)) == a.environment
    with pytest.raises(Http404):
        one(Environment.objects.restrict(a.user_ro, Action.VIEW), str(a.other_environment.pk))


def test_submit_calls_nothing_on_a_get():
    calls = []
    done = submit(RequestFactory().get("/"), lambda: calls.append(1), success="never", to="/")
    assert calls == [] and done.response is None and done.error is None


def test_several_forms_bind_only_the_posted_one(rf):
    from django import forms

    from core.forms import several_forms

    class Named(forms.Form):
        name = forms.CharField()

    request = rf.post("/", {"form": "second", "second-name": "x", "first-name": "y"})
    posted, bound = several_forms(request, allowed=True, first=Named, second=Named)
    assert posted == "second" and bound["second"].is_bound and not bound["first"].is_bound
    assert bound["second"].is_valid() and bound["second"].cleaned_data == {"name": "x"}
    assert several_forms(request, allowed=False, first=Named) == ("second", {"first": None})
