"""How much the local cloud can hold: MiniStack keeps every DynamoDB item in memory, as Python objects.

Measured with `python benchmarks/local_state.py` (orders rows, MiniStack 1.5.33; docs/local-cloud-limits.md):
about `ITEM_BYTES` of resident memory per item, and a checkpoint briefly needs up to `CHECKPOINT_FACTOR`
times the server's resident memory (its fork()ed writer copies the pages it touches). A file that would take
the server past `SAFE_SHARE` of the memory it can have (what it holds plus what the machine has available) is
warned about before it is uploaded, with the options.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

ITEM_BYTES = 4_200  # resident bytes per DynamoDB item of orders in the emulator (4,133-4,343 measured)
CHECKPOINT_FACTOR = 1.7  # peak while a checkpoint is written / resident (writer: 0.46-0.65 x measured)
SAFE_SHARE = 0.8  # of (memory the server holds + memory available), the rest left to everything else
_MEASURED_FROM = 100_000  # with fewer items the fixed part of the server's memory dominates the ratio
_SAMPLE = 1 << 20
OPTIONS = (
    "use a dataset with `x-dynamodb: false` (S3 and Athena only, no DynamoDB copy), a machine with more "
    "memory, or a stage on AWS (`--stage NAME`)"
)


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def meminfo() -> dict[str, int]:
    """/proc/meminfo in bytes (empty where there is none)."""
    try:
        lines = Path("/proc/meminfo").read_text().splitlines()
    except OSError:
        return {}
    return {line.split(":")[0]: int(line.split()[1]) * 1024 for line in lines if line.split()[1:2]}


def resident_bytes(pid: int) -> int:
    """Resident memory of one process (0 if it cannot be read)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class Capacity:
    """The server's memory and item count now, and the machine's memory."""

    resident: int
    items: int
    available: int
    total: int

    @property
    def bytes_per_item(self) -> float:
        if self.items >= _MEASURED_FROM and self.resident:
            return max(self.resident / self.items, ITEM_BYTES * 0.5)
        return ITEM_BYTES

    @property
    def budget(self) -> int:
        """Memory the server may use at its peak and leave the machine usable."""
        return int((self.resident + self.available) * SAFE_SHARE)

    def resident_with(self, rows: int) -> int:
        return int(self.resident + rows * self.bytes_per_item)

    def rows_that_fit(self) -> int:
        """More DynamoDB rows the server can take before a checkpoint would exceed the budget."""
        room = self.budget / CHECKPOINT_FACTOR - self.resident
        return max(0, int(room / self.bytes_per_item))

    def warning(self, rows: int = 0) -> str | None:
        """Why ``rows`` more DynamoDB items (0: the items held now) are past a safe size, and what to do."""
        resident = self.resident_with(rows)
        peak = resident * CHECKPOINT_FACTOR
        if not self.available or peak <= self.budget:
            return None
        now = f"it holds {self.items:,} DynamoDB items in {_gb(self.resident)} now"
        what = f"this file (~{rows:,} rows) would bring the local cloud to" if rows else "the local cloud uses"
        return (
            f"{what} about {_gb(resident)} of memory and {_gb(peak)} while it saves a checkpoint, more than the "
            f"{_gb(self.budget)} this machine can safely give it ({now}): {OPTIONS}"
        )


def _records_per_byte(sample: bytes, whole: bool) -> tuple[int, int]:
    """Data records in ``sample`` (quote-aware, as the pager counts them) and the bytes they span."""
    from pipeline.runtime.rows.records import scan_records, split_header

    _, start = split_header(sample)
    body = sample[start:]
    if not whole and b"\n" in body:
        body = body[: body.rindex(b"\n") + 1]  # the last record may be cut by the sample's end
    index = scan_records(body)
    return len(index), start + len(body)


def estimate_rows(path: Path) -> int:
    """Data rows in a CSV file, estimated from its size and the records of its first MB (gzip read as such)."""
    size = path.stat().st_size
    if not size:
        return 0
    if path.suffix == ".gz":
        with path.open("rb") as raw, gzip.GzipFile(fileobj=raw) as unzipped:
            try:
                sample = unzipped.read(_SAMPLE)
                whole = not unzipped.read(1)
            except (OSError, EOFError):
                return 0
            consumed = max(raw.tell(), 1)
        records, spanned = _records_per_byte(sample, whole)
        return records if whole else int(records * (size / consumed) * (len(sample) / max(spanned, 1)))
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE)
    whole = size <= len(sample)
    records, spanned = _records_per_byte(sample, whole)
    return records if whole else int(records * size / max(spanned, 1))


def measure(pid: int | None, items: int) -> Capacity:
    """The capacity of a local cloud whose server is ``pid`` and holds ``items`` DynamoDB items."""
    info = meminfo()
    return Capacity(
        resident=resident_bytes(pid) if pid else 0,
        items=items,
        available=info.get("MemAvailable", 0),
        total=info.get("MemTotal", 0) or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
    )
