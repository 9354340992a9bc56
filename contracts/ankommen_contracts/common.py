"""Value types shared by the event models: coarse attributes only, never personal data."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field


class Pillar(StrEnum):
    """Housing pillar (Säule) of Hannover's accommodation model."""

    WOHNHEIM = "wohnheim"  # communal home with 24/7 operator care
    WOHNPROJEKT = "wohnprojekt"  # smaller shared housing project
    WOHNUNG = "wohnung"  # flat rented by the city
    NOTUNTERKUNFT = "notunterkunft"  # temporary emergency shelter (the fourth pillar)


District = Annotated[
    int, Field(ge=1, le=13, description="Stadtbezirk number 1-13 (01 Mitte … 13 Nord)")
]

DISTRICT_NAMES: dict[int, str] = {
    1: "Mitte",
    2: "Vahrenwald-List",
    3: "Bothfeld-Vahrenheide",
    4: "Buchholz-Kleefeld",
    5: "Misburg-Anderten",
    6: "Kirchrode-Bemerode-Wülferode",
    7: "Südstadt-Bult",
    8: "Döhren-Wülfel",
    9: "Ricklingen",
    10: "Linden-Limmer",
    11: "Ahlem-Badenstedt-Davenstedt",
    12: "Herrenhausen-Stöcken",
    13: "Nord",
}
