"""Saved views: per dataset and owner, the same name again replaces the filters, only the
owner changes or deletes one."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from curation.models import SavedView
from curation.services.datasets import create_dataset
from curation.services.saved_views import BadView, delete_view, save_view, update_view

pytestmark = pytest.mark.django_db


def test_saving_the_same_name_again_replaces_the_filters(imported, viewer):
    view, created = save_view(
        dataset=imported, owner=viewer, name=" Test  set ", query="split=test"
    )
    assert created and view.name == "Test set"
    again, created = save_view(dataset=imported, owner=viewer, name="Test set", query="split=train")
    assert not created and again.pk == view.pk
    assert SavedView.objects.get(pk=view.pk).query == "split=train"


def test_views_are_per_dataset_and_owner(imported, viewer, merchandiser):
    other = create_dataset(name="shoes", attributes={"colour": ["red"]})
    save_view(dataset=imported, owner=viewer, name="mine", query="split=test")
    save_view(dataset=imported, owner=merchandiser, name="mine", query="split=train")
    save_view(dataset=other, owner=viewer, name="mine", query="")
    assert SavedView.objects.filter(name="mine").count() == 3


def test_only_the_owner_renames_changes_or_deletes(imported, viewer, merchandiser):
    view, _ = save_view(dataset=imported, owner=viewer, name="reshoots", query="tag=reshoot")
    with pytest.raises(PermissionDenied):
        update_view(view=view, actor=merchandiser, name="hijacked")
    with pytest.raises(PermissionDenied):
        delete_view(view=view, actor=merchandiser)
    update_view(view=view, actor=viewer, name="reshoots 2", query="split=test")
    view.refresh_from_db()
    assert (view.name, view.query) == ("reshoots 2", "split=test")
    delete_view(view=view, actor=viewer)
    assert not SavedView.objects.exists()


def test_a_rename_onto_another_of_your_views_is_refused(imported, viewer):
    save_view(dataset=imported, owner=viewer, name="a", query="")
    b, _ = save_view(dataset=imported, owner=viewer, name="b", query="")
    with pytest.raises(BadView, match="already have a view called 'a'"):
        update_view(view=b, actor=viewer, name="a")


@pytest.mark.parametrize("name", ["", "   ", "x" * 81])
def test_a_view_needs_a_usable_name(imported, viewer, name):
    with pytest.raises(BadView):
        save_view(dataset=imported, owner=viewer, name=name, query="")
    assert not SavedView.objects.exists()
