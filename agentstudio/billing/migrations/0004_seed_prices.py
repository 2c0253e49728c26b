"""Seeds the price table from the genai-prices dataset, so a fresh database has prices.

This calls into the installed package (its bundled data, never the network): acceptable
because `genai-prices` is pinned in pyproject.toml, so a fresh database gets the same rows.
`manage.py seed_prices` refreshes them after an upgrade of the pin."""

from django.db import migrations


def seed(apps, schema_editor):
    from agentstudio.billing.price_seed import prices_seed_from_dataset

    prices_seed_from_dataset(price_model=apps.get_model("billing", "ModelPrice"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_credit_holds")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
