"""PDFs of the interim report and the 13 district reports, printed by headless Chromium.

Chromium (Debian's package ``chromium``; ``scripts/install-browser-deps.sh``) opens the
report's page from a running reporting service and prints it with the page's print
stylesheet (A4, Drucksache layout). Nothing is skipped: without Chromium this fails and
says how to install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ankommen_contracts.common import DISTRICT_NAMES

INSTALL_HINT = "run scripts/install-browser-deps.sh (apt-get install chromium poppler-utils)"


class ChromiumMissing(RuntimeError):
    pass


def chromium() -> str:
    """The Chromium executable (``ANKOMMEN_CHROMIUM`` or ``chromium`` on PATH)."""
    found = os.environ.get("ANKOMMEN_CHROMIUM") or shutil.which("chromium")
    if not found:
        raise ChromiumMissing(f"headless Chromium is not installed: {INSTALL_HINT}")
    return found


def headless_args() -> list[str]:
    return [
        chromium(),
        "--headless=new",
        "--no-sandbox",  # containers and CI run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
    ]


def print_pdf(url: str, out: Path, *, timeout: float = 120.0) -> Path:
    """Print ``url`` to ``out`` as PDF; raises with Chromium's output if it fails."""
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            *headless_args(),
            "--no-pdf-header-footer",
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=5000",
            f"--print-to-pdf={out}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"chromium could not print {url}: {done.stderr[-2000:]}")
    return out


def print_reports(
    base_url: str, out_dir: Path, *, as_of: str | None = None, lang: str = "de"
) -> list[Path]:
    """The interim report and one report per Stadtbezirksrat, as PDFs in ``out_dir``."""
    query = f"?lang={lang}" + (f"&as_of={as_of}" if as_of else "")
    base = base_url.rstrip("/")
    printed = [print_pdf(f"{base}/report{query}", out_dir / f"zwischenbilanz-{lang}.pdf")]
    for number, name in DISTRICT_NAMES.items():
        slug = (
            name.lower().replace(" ", "-").replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
        )
        printed.append(
            print_pdf(
                f"{base}/report/district/{number}{query}",
                out_dir / f"stadtbezirk-{number:02d}-{slug}-{lang}.pdf",
            )
        )
    return printed
