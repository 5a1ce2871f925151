"""Daily closes become price bars at their own resolution (FORMATS ``riskgov.prices/1``).

The ``DailyClose`` table is renamed ``PriceBar`` and keeps every row: each existing row is a
``1d`` bar whose ``timestamp`` (bar open time) is its date at 00:00 UTC. ``DailyClose`` stays
as a proxy over the ``1d`` bars, so existing readers and writers keep working.
"""

import datetime as dt

import django.db.models.deletion
from django.db import migrations, models

BATCH = 5000


def fill_timestamps(apps, schema_editor):
    PriceBar = apps.get_model("markets", "PriceBar")
    todo = PriceBar.objects.filter(timestamp__isnull=True).order_by("pk")
    while True:
        rows = list(todo[:BATCH])
        if not rows:
            break
        for row in rows:
            row.timestamp = dt.datetime.combine(row.date, dt.time(), tzinfo=dt.UTC)
        PriceBar.objects.bulk_update(rows, ["timestamp"])


class Migration(migrations.Migration):

    dependencies = [
        ("markets", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="dailyclose", name="daily_close_unique"),
        migrations.RemoveConstraint(model_name="dailyclose", name="daily_close_positive"),
        migrations.RenameModel(old_name="DailyClose", new_name="PriceBar"),
        migrations.AlterField(
            model_name="pricebar",
            name="asset",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="price_bars", to="markets.asset"
            ),
        ),
        migrations.AlterField(
            model_name="pricebar",
            name="source",
            field=models.CharField(help_text="e.g. yahoo, binance, binanceusdm_perp, coinmetrics", max_length=32),
        ),
        migrations.AlterField(
            model_name="pricebar",
            name="date",
            field=models.DateField(help_text="UTC day of the bar's open time"),
        ),
        migrations.AddField(
            model_name="pricebar",
            name="resolution",
            field=models.CharField(
                choices=[("1m", "1m"), ("5m", "5m"), ("15m", "15m"), ("1h", "1h"), ("4h", "4h"), ("1d", "1d")],
                db_default="1d",
                default="1d",
                max_length=4,
            ),
        ),
        migrations.AddField(
            model_name="pricebar",
            name="timestamp",
            field=models.DateTimeField(null=True, help_text="bar open time, UTC"),
        ),
        migrations.RunPython(fill_timestamps, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="pricebar",
            name="timestamp",
            field=models.DateTimeField(help_text="bar open time, UTC"),
        ),
        migrations.AlterModelOptions(
            name="pricebar",
            options={"ordering": ["asset", "source", "resolution", "timestamp"]},
        ),
        migrations.AddIndex(
            model_name="pricebar",
            index=models.Index(fields=["resolution", "asset", "timestamp"], name="price_bar_res_asset_ts"),
        ),
        migrations.AddConstraint(
            model_name="pricebar",
            constraint=models.UniqueConstraint(
                fields=("asset", "source", "resolution", "timestamp"), name="price_bar_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="pricebar",
            constraint=models.CheckConstraint(condition=models.Q(("close__gt", 0)), name="price_bar_positive"),
        ),
        migrations.AddConstraint(
            model_name="pricebar",
            constraint=models.CheckConstraint(
                condition=models.Q(("resolution__in", ["1m", "5m", "15m", "1h", "4h", "1d"])),
                name="price_bar_resolution_known",
            ),
        ),
        migrations.CreateModel(
            name="DailyClose",
            fields=[],
            options={"ordering": ["asset", "source", "date"], "proxy": True, "indexes": [], "constraints": []},
            bases=("markets.pricebar",),
            managers=[],
        ),
    ]
