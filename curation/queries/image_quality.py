"""Read side of the image-quality scans: what partials/_image_quality.html shows.

`panel_context(dataset, issue=..., page=...)` builds the partial's whole context, one key:
`{"image_quality": Panel}`, so any page can include the partial beside its own context
(the dataset page does; a data-health page can). The including view passes the query
parameters `iq_issue` (an issue type) and `iq_page` (a page number) through. Counts come
from the scan's row, never from counting findings; a gallery page reads one slice of the
(scan, issue, score, id) index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from curation.models import Dataset, QualityFinding, QualityScan

PAGE_SIZE = 24
ABOUT = {  # what CleanVision means by each issue type, in the words the page uses
    "dark": "underexposed, even the brightest pixels are dim",
    "light": "overexposed, even the darkest pixels are bright",
    "blurry": "out of focus or motion-blurred, few sharp edges",
    "low_information": "little detail, few distinct colours (blank, flat or cropped away)",
    "odd_aspect_ratio": "unusually wide or tall",
    "odd_size": "far smaller or larger than the catalog's other images",
    "grayscale": "no colour in a colour catalog",
}


@dataclass
class IssueCount:
    issue: str  # a QualityFinding.Issue value
    label: str
    about: str
    n: int


@dataclass
class FindingsPage:
    """One page of one issue type's findings, worst (lowest score) first."""

    issue: IssueCount
    findings: list[QualityFinding]  # with .image loaded
    number: int
    num_pages: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


@dataclass
class Panel:
    dataset: Dataset
    latest: QualityScan | None  # the newest scan, whatever its status
    current: QualityScan | None  # the newest succeeded scan: the findings shown are its
    counts: list[IssueCount] = field(default_factory=list)  # of `current`, every issue type
    page: FindingsPage | None = None  # the selected issue type's gallery

    @property
    def active(self) -> bool:
        """A scan is queued or running: the partial polls until it is done."""
        return self.latest is not None and self.latest.status in QualityScan.ACTIVE

    @property
    def query(self) -> str:
        """?iq_issue=…&iq_page=…: the gallery in view, kept when the panel polls itself."""
        issue = self.page.issue.issue if self.page else ""
        number = self.page.number if self.page else 1
        return "?" + urlencode({"iq_issue": issue, "iq_page": number})

    @property
    def flagged(self) -> int:
        return sum(c.n for c in self.counts)


def latest_scan(dataset: Dataset) -> QualityScan | None:
    return QualityScan.objects.filter(dataset=dataset).order_by("-id").first()


def current_scan(dataset: Dataset) -> QualityScan | None:
    return (
        QualityScan.objects.filter(dataset=dataset, status=QualityScan.Status.SUCCEEDED)
        .order_by("-id")
        .first()
    )


def issue_counts(scan: QualityScan) -> list[IssueCount]:
    counts = scan.counts or {}
    return [
        IssueCount(issue=value, label=str(label), about=ABOUT[value], n=int(counts.get(value, 0)))
        for value, label in QualityFinding.Issue.choices
    ]


def findings_page(scan: QualityScan, issue: IssueCount, page: int) -> FindingsPage:
    """Page `page` (clamped to the pages there are) of `issue`'s findings in `scan`."""
    num_pages = max(1, -(-issue.n // PAGE_SIZE))
    number = min(max(1, page), num_pages)
    start = (number - 1) * PAGE_SIZE
    rows = (
        QualityFinding.objects.filter(scan=scan, issue=issue.issue)
        .select_related("image")
        .order_by("score", "id")[start : start + PAGE_SIZE]
    )
    return FindingsPage(issue=issue, findings=list(rows), number=number, num_pages=num_pages)


def parse_page(raw: str | None) -> int:
    try:
        return int(raw) if raw and len(raw) < 10 else 1
    except ValueError:
        return 1


def panel_context(
    dataset: Dataset, *, issue: str | None = None, page: str | int | None = None
) -> dict[str, Panel]:
    """The context of partials/_image_quality.html. `issue`: the gallery to show (default:
    the first issue type with findings); `page`: its page number (bad values: page 1)."""
    latest = latest_scan(dataset)
    current = latest if latest and latest.status == QualityScan.Status.SUCCEEDED else None
    if current is None and latest is not None:
        current = current_scan(dataset)
    panel = Panel(dataset=dataset, latest=latest, current=current)
    if current is None:
        return {"image_quality": panel}
    panel.counts = issue_counts(current)
    chosen = next((c for c in panel.counts if c.issue == issue), None)
    chosen = chosen or next((c for c in panel.counts if c.n), None)
    if chosen is not None:
        number = page if isinstance(page, int) else parse_page(page)
        panel.page = findings_page(current, chosen, number)
    return {"image_quality": panel}
