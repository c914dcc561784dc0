"""manage.py move_split --dataset D --product KEY --to test --reason "…"

The one legal way to change a split: for a taxonomy change, audited in SplitMove."""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError

from curation.models import Dataset, Product
from curation.services.splits import move_product_split


class Command(BaseCommand):
    help = "Move one product (and all its images) to the other split, with an audit record."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True)
        parser.add_argument("--product", required=True, help="product key")
        parser.add_argument("--to", required=True, choices=["train", "test"])
        parser.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
        parser.add_argument("--actor", default=getpass.getuser(), help="who (default: the OS user)")

    def handle(self, *args, **options):
        try:
            dataset = Dataset.objects.get(name=options["dataset"])
        except Dataset.DoesNotExist:
            raise CommandError(f"dataset '{options['dataset']}' does not exist") from None
        try:
            move = move_product_split(
                dataset=dataset,
                product_key=options["product"],
                to_split=options["to"],
                reason=options["reason"],
                actor=options["actor"],
            )
        except Product.DoesNotExist:
            raise CommandError(
                f"dataset '{dataset.name}' has no product '{options['product']}'"
            ) from None
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"moved product {options['product']} from {move.old_split} to {move.new_split} "
            f"(audit record #{move.pk}); runs before and after this are not directly comparable"
        )
