"""Many people changing one label at the same moment: exactly one wins, history agrees."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from rest_framework.authtoken.models import Token

from curation.models import Annotation, Image, LabelEvent
from curation.services.imports import import_catalog


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_patches_with_one_if_match_have_one_winner(
    live_server, small_catalog, merchandiser
):
    import_catalog(str(small_catalog), dataset_name="dresses", create=True)
    image = Image.objects.get(source_path="img/0.png")
    token = Token.objects.create(user=merchandiser).key
    labels = ["boat", "v-neck"] * 10
    barrier = threading.Barrier(len(labels))
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def patch(label: str) -> None:
        request = urllib.request.Request(
            f"{live_server.url}/api/images/{image.pk}/labels/",
            data=json.dumps({"attribute": "neckline", "label": label}).encode(),
            method="PATCH",
            headers={
                "Authorization": f"Token {token}",
                "Content-Type": "application/json",
                "If-Match": '"1"',
            },
        )
        barrier.wait()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                outcome = (response.status, json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            outcome = (exc.code, json.loads(exc.read()))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=patch, args=(label,)) for label in labels]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [412] * 19, statuses
    winner = next(body for status, body in results if status == 200)
    annotation = Annotation.objects.get(image=image, attribute__name="neckline")
    assert (annotation.label.name, annotation.version) == (winner["label"], 2)
    manual = LabelEvent.objects.filter(image=image, source="manual")
    assert [(e.old_label.name, e.new_label.name) for e in manual] == [("round", winner["label"])]
    for status, body in results:
        if status == 412:
            assert body["current"] == {**body["current"], "label": winner["label"], "version": 2}
