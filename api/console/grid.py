"""The schedule grid's layout: half-hour rows, a column per chair or provider (a day) or per day (a week), and each
booking a block spanning the rows it holds. Pure: it lays out items already read, and knows no request or database.

Bookings that overlap in one column (two with no chair yet, or booked before chairs existed) share one block, so the
table stays a table: every row has one cell per column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from api.console.agenda import Item

SLOT_MINUTES = 30
DAY_SLOTS = 24 * 60 // SLOT_MINUTES
FIRST_HOUR = 8  # the grid's first row, unless something is booked earlier


@dataclass(frozen=True)
class Column:
    day: date
    name: str  # the chair or provider ("": none named yet)
    label: str  # the column's heading


@dataclass
class Block:
    items: list[Item]
    first: int  # slot index of its first row
    last: int  # slot index after its last row

    @property
    def rows(self) -> int:
        return self.last - self.first


@dataclass
class Cell:
    column: Column
    start: datetime  # the slot's start, clinic time
    block: Block | None = None  # a booking block starting in this row; None: a free slot


@dataclass
class Row:
    start: time
    cells: list[Cell] = field(default_factory=list)


def layout(columns: list[Column], placed: dict[Column, list[Item]], zone: ZoneInfo, last_hour: int,
           length: Callable[[Item], int]) -> list[Row]:
    """The grid's rows, from FIRST_HOUR (or the earliest booking) to `last_hour` (or the latest booking's end)."""
    blocks = {column: _blocks(placed.get(column, []), zone, length) for column in columns}
    every = [block for column_blocks in blocks.values() for block in column_blocks]
    first = min([FIRST_HOUR * 60 // SLOT_MINUTES, *(block.first for block in every)])
    last = max([last_hour * 60 // SLOT_MINUTES, *(block.last for block in every)])
    starting = {(column, block.first): block for column, column_blocks in blocks.items() for block in column_blocks}
    covered = {(column, slot) for column, column_blocks in blocks.items() for block in column_blocks
               for slot in range(block.first + 1, block.last)}
    rows = []
    for slot in range(first, last):
        clock = _clock(slot)
        row = Row(clock)
        for column in columns:
            if (column, slot) in covered:
                continue  # inside a block that started in an earlier row
            start = datetime.combine(column.day, clock, zone)
            row.cells.append(Cell(column, start, starting.get((column, slot))))
        rows.append(row)
    return rows


def _blocks(items: list[Item], zone: ZoneInfo, length: Callable[[Item], int]) -> list[Block]:
    blocks: list[Block] = []
    for item in sorted(items, key=lambda it: it.start):
        local = item.start.astimezone(zone)
        begin = (local.hour * 60 + local.minute) // SLOT_MINUTES
        end = min(DAY_SLOTS, max(begin + 1, -(-(local.hour * 60 + local.minute + length(item)) // SLOT_MINUTES)))
        if blocks and begin < blocks[-1].last:
            blocks[-1].items.append(item)
            blocks[-1].last = max(blocks[-1].last, end)
        else:
            blocks.append(Block([item], begin, end))
    return blocks


def _clock(slot: int) -> time:
    minutes = slot * SLOT_MINUTES
    return time(minutes // 60, minutes % 60)
