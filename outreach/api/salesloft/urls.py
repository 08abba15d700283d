"""The Salesloft-compatible facade (seed 001): /v2/actions and the resources its
`_href` links name. Every route also answers with a `.json` suffix, which is what
Salesloft's clients call."""

from django.urls import path

from outreach.api.salesloft import resources, views

app_name = "salesloft"


def both(route: str, view, json_view, name: str) -> list:
    return [
        path(route, view.as_view(), name=name),
        path(f"{route}.json", json_view.as_view(), name=f"{name}-json"),
    ]


urlpatterns = [
    *both("actions", views.ActionListView, views.ActionListJsonView, "action-list"),
    *both("actions/<int:id>", views.ActionDetailView, views.ActionDetailJsonView, "action-detail"),
    *both("users/<int:id>", resources.UserView, resources.UserJsonView, "user"),
    *both("people/<int:id>", resources.PersonView, resources.PersonJsonView, "person"),
    *both("cadences/<int:id>", resources.CadenceView, resources.CadenceJsonView, "cadence"),
    *both("steps/<int:id>", resources.StepView, resources.StepJsonView, "step"),
    *both("tasks/<int:id>", resources.TaskView, resources.TaskJsonView, "task"),
    *both(
        "action_details/<str:kind>/<int:id>",
        resources.ActionDetailsView,
        resources.ActionDetailsJsonView,
        "action-details",
    ),
]
