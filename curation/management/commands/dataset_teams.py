"""manage.py dataset_teams --dataset D [--team T ...] [--remove] [--create]

Limit a dataset to teams (groups that are not roles), or open it again: with no --team, list
the dataset's teams; --remove takes the named teams off (none left: open to every role)."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from curation.models import Dataset
from curation.services.datasets import NotATeam, set_dataset_teams


class Command(BaseCommand):
    help = "Show, add or remove the teams a dataset is limited to (no teams: open to every role)."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--team", action="append", default=[], help="team (group) name")
        parser.add_argument("--remove", action="store_true", help="take the teams off")
        parser.add_argument("--create", action="store_true", help="create missing teams")

    def handle(self, *args, **options):
        dataset = Dataset.objects.filter(name=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"dataset '{options['dataset']}' does not exist")
        names = options["team"]
        current = set(dataset.teams.all())
        if names:
            named = self._groups(names, create=options["create"] and not options["remove"])
            teams = current - named if options["remove"] else current | named
            try:
                set_dataset_teams(dataset=dataset, teams=teams)
            except NotATeam as exc:
                raise CommandError(str(exc)) from None
            current = teams
        shown = ", ".join(sorted(t.name for t in current))
        who = f"limited to {shown}" if shown else "open to every role"
        self.stdout.write(f"{dataset.name}: {who}")

    def _groups(self, names: list[str], *, create: bool) -> set[Group]:
        found = {g.name: g for g in Group.objects.filter(name__in=names)}
        for name in names:
            if name in found:
                continue
            if not create:
                raise CommandError(
                    f"there is no team '{name}'; create it in the admin (Groups), or pass --create"
                )
            found[name] = Group.objects.create(name=name)
            self.stdout.write(f"created team '{name}'")
        return set(found.values())
