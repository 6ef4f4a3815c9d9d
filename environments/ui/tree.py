"""The side tree's two small endpoints: one region's environments, loaded when the region is opened, and the search
by name across regions. Both answer a fragment of bounded size, so the pages that carry the tree cost the same at
100 or 10,000 environments."""

from django.shortcuts import render

from core.pages import page
from core.querysets import Need
from core.roles import Action
from environments import selectors
from environments.models import Environment, Region

READ_REGION = Need(Action.VIEW, of=Region)
FIND_ENVIRONMENTS = Need(Action.VIEW, of=Environment)


@page(get=READ_REGION, row=Region)
def tree_region(request, region):
    environments = selectors.region_environments(fetched_by=request.user, region=region,
                                                 cap=selectors.TREE_REGION_CAP + 1)
    shown = environments[:selectors.TREE_REGION_CAP]
    return _fragment(request, "environments/_tree_region.html", f"Environments in {region.code}", {
        "environments": shown, "truncated": len(environments) > len(shown)})


@page(get=FIND_ENVIRONMENTS)
def tree_search(request):
    text = request.GET.get("q", "")[:100]
    found, truncated = selectors.environment_search(fetched_by=request.user, text=text)
    return _fragment(request, "environments/_tree_search.html", "Find an environment", {
        "found": found, "truncated": truncated, "text": text.strip()})


def _fragment(request, template, heading, context):
    # htmx swaps the fragment into the tree; without JavaScript the same list comes as a page of its own.
    if request.htmx:
        return render(request, template, context)
    return render(request, "environments/tree_page.html", {"fragment": template, "heading": heading, **context})
