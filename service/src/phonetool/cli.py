"""``phonetool process FILE``: the same pipeline as the service, without a server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

from .pipeline import InputError, Options, process_file
from .pipeline.summary import short_read_words


@click.group()
def main() -> None:
    """phonetool: validate, annotate and export phone lists."""


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for the XLSX and CSV.",
)
@click.option(
    "--provinces",
    default=None,
    help="Keep only these provinces, comma-separated (广东,浙江 or Guangdong).",
)
@click.option("--phone-column", default=None, help="Header of the phone column.")
@click.option("--sheet", default=None, help="XLSX sheet name (default: the first).")
@click.option(
    "--region",
    "default_region",
    default="CN",
    show_default=True,
    help="Region for numbers written without a country code.",
)
@click.option("--workers", type=int, default=None, help="Processes for parsing (default: cores).")
@click.option(
    "--language",
    type=click.Choice(["en", "zh"]),
    default="en",
    show_default=True,
    help="Language of the workbook's summary sheet.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def process(
    file: Path,
    out_dir: Path,
    provinces: str | None,
    phone_column: str | None,
    sheet: str | None,
    default_region: str,
    workers: int | None,
    language: str,
    as_json: bool,
) -> None:
    """Process FILE (CSV or XLSX) and write FILE.xlsx and FILE.csv into --out."""
    names = tuple(p.strip() for p in (provinces or "").replace("，", ",").split(",") if p.strip())
    options = Options(
        nationwide=not names,
        provinces=names,
        phone_column=phone_column,
        sheet=sheet,
        default_region=default_region.upper(),
        workers=workers,
        language=language,
    )
    bar: ProgressBar[int]
    with click.progressbar(length=1, label="processing", file=sys.stderr) as bar:

        def progress(done: int, total: int | None) -> None:
            bar.length = max(total or done, 1)
            bar.update(max(done - bar.pos, 0))  # a sheet read again starts over

        try:
            result = process_file(file, out_dir, options, progress=progress)
        except InputError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    s = result.summary
    click.echo(f"{s['rows_in']:,} rows read, {s['rows_out']:,} exported in {result.seconds:.1f} s")
    click.echo(f"valid {s['valid']:,} · invalid {s['invalid']:,} · duplicates {s['duplicates']:,}")
    for reason, count in s["rejected"].items():
        click.echo(f"rejected ({reason}): {count:,}")
    if s["rows_with_extra_cells"]:
        click.echo(
            f"{s['rows_with_extra_cells']:,} rows had more cells than the header;"
            " the extra cells are left out"
        )
    if s["short_read"]:
        text, values = short_read_words(s["short_read"])
        click.echo(f"warning: {text % values}", err=True)
    click.echo(f"wrote {result.xlsx}\nwrote {result.csv}")
