"""The agreement page: reviewer quality worst first, consensus per item lowest first with the
decisions it doubts, the kappas with what they cover, and its empty states."""

from __future__ import annotations

import re

import pytest

from curation.models import ReviewItem
from curation.services.reviews import cast_vote
from tests.support.reviews import BAD, planted_crowd
from tests.support.runs import finished_run

pytestmark = pytest.mark.django_db
URL = "/datasets/{}/attributes/neckline/review/agreement/"


@pytest.fixture
def crowd(tmp_path):
    return planted_crowd(tmp_path / "crowd")


def _text(response) -> str:
    """The page's words, tags dropped."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def test_the_page_ranks_the_bad_reviewer_first_and_flags_the_decisions_it_doubts(
    client, crowd, viewer
):
    client.force_login(viewer)

    response = client.get(URL.format("crowd"), {"run": crowd.run.pk})

    assert response.status_code == 200
    body = response.content.decode()
    reviewers = body[body.index('id="reviewers"') : body.index('id="consensus-card"')]
    names = re.findall(r"<td>(\w+)</td>", reviewers)
    assert names[0] == BAD and len(names) == 4
    assert body.count("disagrees with the decision</span>") == len(crowd.planted)
    text = _text(response)
    assert "3 decisions the consensus disagrees with" in text
    assert "on the first 2 votes of 30 of the 30 items with votes" in text
    assert "rita · rosa" in text or "rosa · rita" in text

    only = client.get(URL.format("crowd"), {"run": crowd.run.pk, "doubted": "1"})

    rows = only.content.decode().split('id="consensus"')[1].split("</table>")[0]
    assert rows.count("<tr>") == 1 + len(crowd.planted)  # the header and the doubted ones
    for item in ReviewItem.objects.filter(pk__in=crowd.planted).select_related("image"):
        assert item.image.get_absolute_url() in rows


def test_an_htmx_request_gets_the_consensus_table_only(client, crowd, viewer):
    client.force_login(viewer)

    response = client.get(URL.format("crowd"), {"run": crowd.run.pk}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert body.strip().startswith('<div id="consensus">') and body.count("<tr>") == 31


def test_empty_states_say_what_is_missing(client, imported, merchandiser, viewer):
    neckline = imported.attributes.get(name="neckline")
    client.force_login(viewer)
    assert "Nothing to compare yet" in _text(client.get(URL.format("dresses")))
    run = finished_run(neckline, wrong=set(imported.images.values_list("pk", flat=True)[:2]))
    assert f"No votes on run #{run.pk} yet" in _text(client.get(URL.format("dresses")))
    item = ReviewItem.objects.filter(run=run).first()
    cast_vote(item=item, label=item.given_label, reviewer=merchandiser)

    text = _text(client.get(URL.format("dresses")))

    assert "No CROWDLAB quality yet: it needs votes from at least 2 reviewers" in text
    assert "Fleiss' kappa: no item has 2 votes yet" in text
    assert "no two reviewers have voted on the same 2 items yet" in text
    assert "max_merch" in text


def test_an_unknown_run_is_a_helpful_404_and_outsiders_get_a_403(
    client, imported, viewer, outsider
):
    client.force_login(viewer)
    response = client.get(URL.format("dresses"), {"run": "999"})
    assert response.status_code == 404 and b"Run #999 is not a finished run" in response.content
    client.force_login(outsider)
    assert client.get(URL.format("dresses")).status_code == 403


def test_the_review_queue_links_to_the_agreement_page(client, crowd, viewer):
    client.force_login(viewer)

    body = client.get("/datasets/crowd/attributes/neckline/review/").content.decode()

    assert f'href="{URL.format("crowd")}?run={crowd.run.pk}"' in body
