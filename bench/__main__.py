"""``python -m bench [--tiny] [--only NAME ...]``: run the benchmarks, print and save results.

Exit code 1 if a benchmark failed or a sanity check (counts, rebuilt == live) did not
hold; a missed performance target is reported, never an error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from ankommen_local.infra import endpoints
from rich.console import Console

from .common import RESULTS_DIR, SIZES
from .report import machine, table, to_json, write
from .suite import BENCHMARKS, DEFAULT, OPTIONAL, run_all
from .ui import Ui


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument(
        "--tiny",
        action="store_const",
        const="tiny",
        dest="size",
        help="the small size the tests use",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only these: {', '.join(BENCHMARKS)} ({', '.join(sorted(OPTIONAL))} only "
        "when named here)",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR, help="folder for latest.json and latest.md"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    return asyncio.run(_main(args))


async def _main(args: argparse.Namespace) -> int:
    size = SIZES[args.size]
    started = datetime.now(UTC)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with endpoints() as ep, Ui(quiet=args.quiet) as ui:
        info = await machine(ep.pg_admin_dsn)
        results = await run_all(ep, size, ui, args.only or DEFAULT)
        info["load_average_at_end"] = list(os.getloadavg())
    doc = to_json(results, info, size.name, started, loop.time() - t0)
    js, md = write(doc, results, args.out)
    out = Console()
    if not out.is_terminal:
        out.width = max(out.width, 160)  # a log file is not a narrow terminal
    out.print(table(results))
    out.print(f"written: {js} and {md}")
    return 0 if all(r.sane or r.status == "not done" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
