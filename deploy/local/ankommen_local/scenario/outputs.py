"""What a run leaves in its output folder from reporting: the views, the interim report
and the 13 district reports, fetched over reporting's HTTP API after the run.

- ``views/<key>.json`` and ``views/<key>.csv``: every view of the interim review as
  published (``/published/{key}``: counts below 5 suppressed, what the city may hand out);
  ``views/internal/<key>.json``: the same unsuppressed, read with a ``council-reader``
  token (``/internal/views/{key}``), for the statistics office;
- ``zwischenbilanz.html`` and ``zwischenbilanz.pdf``: the interim report (``/report``,
  ``/report.pdf``, printed by reporting's headless Chromium);
- ``stadtbezirke/stadtbezirk-NN-<name>.html`` and ``.pdf``: one report per
  Stadtbezirksrat (``/report/district/{n}``);
- ``dashboard.html``: the public dashboard as it stood at the end of the run.

Everything is as of reporting's business day, the run's last simulated day. Nothing is
computed here: the files are reporting's answers, byte for byte.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from ankommen_contracts.common import DISTRICT_NAMES
from ankommen_runtime.auth import Role

from .runner import Tokens

PRINTS_AT_ONCE = 1  # each PDF is one headless Chromium in reporting, on two cores
PDF_TIMEOUT = 300.0
PRINT_ATTEMPTS = 3  # reporting answers 503 when Chromium timed out (a busy machine)


def slug(name: str) -> str:
    """``Döhren-Wülfel`` → ``doehren-wuelfel``: a file name without umlauts or spaces."""
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        name = name.replace(umlaut, plain)
    return name.lower().replace(" ", "-").replace("/", "-")


def district_file(number: int) -> str:
    return f"stadtbezirk-{number:02d}-{slug(DISTRICT_NAMES[number])}"


def _write(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)


async def fetch_reports(reporting_url: str, output: Path, tokens: Tokens) -> list[Path]:
    """Fetch the views, the interim report and the district reports into ``output``; the
    files written. Raises naming the route when reporting does not answer 200."""
    written: list[Path] = []
    reader = tokens.header(Role.COUNCIL_READER, "reporting")
    printing = asyncio.Semaphore(PRINTS_AT_ONCE)
    async with httpx.AsyncClient(base_url=reporting_url, timeout=PDF_TIMEOUT) as client:

        async def save(path: str, target: Path, *, secret: bool = False, attempts: int = 1) -> None:
            for _ in range(attempts):
                response = await client.get(path, headers=reader if secret else None)
                if response.status_code != 503:
                    break
            if response.status_code != 200:
                raise RuntimeError(
                    f"reporting GET {path}: {response.status_code} {response.text[:300]}"
                )
            await asyncio.to_thread(_write, target, response.content)
            written.append(target)

        async def pdf(path: str, target: Path) -> None:
            async with printing:
                await save(path, target, attempts=PRINT_ATTEMPTS)

        index = await client.get("/views")
        index.raise_for_status()
        keys = [entry["key"] for entry in index.json()]
        views, districts = output / "views", output / "stadtbezirke"
        await asyncio.gather(
            *(save(f"/published/{key}", views / f"{key}.json") for key in keys),
            *(save(f"/published/{key}.csv", views / f"{key}.csv") for key in keys),
            *(
                save(f"/internal/views/{key}", views / "internal" / f"{key}.json", secret=True)
                for key in keys
            ),
            save("/", output / "dashboard.html"),
            save("/report", output / "zwischenbilanz.html"),
            *(
                save(f"/report/district/{n}", districts / f"{district_file(n)}.html")
                for n in DISTRICT_NAMES
            ),
        )
        await asyncio.gather(
            pdf("/report.pdf", output / "zwischenbilanz.pdf"),
            *(
                pdf(f"/report/district/{n}.pdf", districts / f"{district_file(n)}.pdf")
                for n in DISTRICT_NAMES
            ),
        )
    return written
