"""The dashboard and the reports in headless Chromium: no console errors, charts drawn,
no axe-core (WCAG 2.1 AA) violations, readable on a phone; the PDFs have their sections.

Chromium is Debian's package (scripts/install-browser-deps.sh, run by
``make browser-test``); if it is missing these tests fail and say so, they never skip.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import httpx
import pytest
from cdp import Page, browser
from city import AS_OF
from reporting.printing import chromium, print_pdf, print_reports

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
WCAG = "{runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}"
SECTIONS = (
    "Rückblick",
    "Ausblick",
    "Ein erstes Fazit",
    "Berücksichtigung von Gender-Aspekten",
    "Kostentabelle",
)


@pytest.fixture(autouse=True)
def chromium_is_installed() -> None:
    chromium()  # raises ChromiumMissing with the install hint: a failure, not a skip


async def axe_violations(page: Page) -> list[dict[str, object]]:
    await page.evaluate(AXE)
    found = await page.evaluate(
        f"axe.run(document, {WCAG}).then(r => JSON.stringify(r.violations.map(v => "
        "({id: v.id, impact: v.impact, help: v.help, "
        "nodes: v.nodes.slice(0, 3).map(n => n.target)}))))"
    )
    return json.loads(found)


async def charts_drawn(page: Page) -> int:
    return int(
        await page.evaluate(
            "document.querySelectorAll('figure svg .series rect, figure svg .series path, "
            "figure svg .series .line').length"
        )
    )


@pytest.mark.parametrize("lang", ["de", "en"])
async def test_the_dashboard_draws_its_charts_without_errors_and_passes_axe(
    served: str, artifacts: Path, lang: str
) -> None:
    async with browser() as page:
        await page.viewport(1280, 900, mobile=False)
        await page.open(f"{served}/?lang={lang}&as_of={AS_OF}")
        assert await page.evaluate("document.documentElement.lang") == lang
        assert await charts_drawn(page) > 50, "the charts have bars and lines"
        figures = await page.evaluate("document.querySelectorAll('figure svg').length")
        assert figures >= 11
        lag = await page.evaluate("document.querySelectorAll('[data-topic]').length")
        assert lag == 4, "consumer lag of each topic is shown"
        violations = await axe_violations(page)
        assert violations == [], json.dumps(violations, indent=1)
        await page.screenshot(artifacts / f"dashboard-{lang}.png")
        assert page.errors == [], page.errors


async def test_the_dashboard_is_readable_on_a_phone(served: str, artifacts: Path) -> None:
    async with browser() as page:
        await page.viewport(390, 844, mobile=True)
        await page.open(f"{served}/?as_of={AS_OF}")
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, "no sideways scrolling of the page (tables scroll in their box)"
        assert await charts_drawn(page) > 50
        violations = await axe_violations(page)
        assert violations == [], json.dumps(violations, indent=1)
        await page.screenshot(artifacts / "dashboard-phone.png")
        assert page.errors == [], page.errors


async def test_the_interim_report_page_has_the_drucksache_sections(
    served: str, artifacts: Path
) -> None:
    async with browser() as page:
        await page.open(f"{served}/report?as_of={AS_OF}")
        headings = await page.evaluate(
            "[...document.querySelectorAll('h2')].map(h => h.textContent.trim())"
        )
        assert list(SECTIONS) == [h for h in headings if h in SECTIONS]
        assert await charts_drawn(page) > 20
        violations = await axe_violations(page)
        assert violations == [], json.dumps(violations, indent=1)
        await page.screenshot(artifacts / "report.png")
        assert page.errors == [], page.errors


def pdf_text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_pages(pdf: Path, out: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(out / pdf.stem)], check=True)
    return sorted(out.glob(f"{pdf.stem}*.png"))


async def test_the_interim_report_prints_as_a_pdf_with_its_sections(
    served: str, artifacts: Path
) -> None:
    pdf = await asyncio.to_thread(
        print_pdf, f"{served}/report?as_of={AS_OF}", artifacts / "zwischenbilanz.pdf"
    )
    text = pdf_text(pdf)
    for section in SECTIONS:
        assert section in text, f"the PDF has {section}"
    assert "Landeshauptstadt" in text
    assert "Stand 30.09.2016" in text
    images = await asyncio.to_thread(pdf_pages, pdf, artifacts)
    assert len(images) >= 3, "rendered to page images"
    assert all(p.stat().st_size > 2000 for p in images), "the pages are not blank"


async def test_the_service_serves_the_reports_as_pdf(served: str, artifacts: Path) -> None:
    async with httpx.AsyncClient(timeout=180) as client:
        report = await client.get(f"{served}/report.pdf", params={"as_of": str(AS_OF)})
        district = await client.get(f"{served}/report/district/9.pdf", params={"as_of": str(AS_OF)})
    assert report.headers["content-type"] == "application/pdf"
    assert report.content.startswith(b"%PDF")
    path = artifacts / "served-report.pdf"
    path.write_bytes(report.content)
    assert "Kostentabelle" in pdf_text(path)
    assert district.content.startswith(b"%PDF")


async def test_every_district_council_gets_its_own_report_as_pdf(
    served: str, artifacts: Path
) -> None:
    printed = await asyncio.to_thread(
        print_reports, served, artifacts / "districts", as_of=str(AS_OF)
    )
    assert len(printed) == 14
    for number, pdf in enumerate(printed[1:], start=1):
        text = pdf_text(pdf)
        assert f"Stadtbezirk {number:02d}" in text
        for section in ("Ausblick", "Kostentabelle", "Berücksichtigung von Gender-Aspekten"):
            assert section in text, f"{pdf.name} has {section}"
