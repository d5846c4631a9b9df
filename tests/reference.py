"""A pure-Python statement of the rules, used only by the tests to check the SQL.

It reads the six challenge tables as they are (nothing precomputed) and applies the rules directly, so it
shares no code and no shortcut with carepg's view, patches or indexes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import psycopg


@dataclasses.dataclass(frozen=True)
class Shift:
    id: int
    start: dt.datetime
    end: dt.datetime
    profession: str
    is_deleted: bool
    facility_id: int
    worker_id: int | None


@dataclasses.dataclass
class World:
    workers: dict[int, tuple[bool, str]]  # id -> (is_active, profession)
    facilities: dict[int, bool]  # id -> is_active
    required: dict[int, set[int]]  # facility -> documents (duplicates collapse)
    held: dict[int, set[int]]  # worker -> documents
    shifts: list[Shift]

    @classmethod
    def load(cls, conn: psycopg.Connection) -> World:
        required: dict[int, set[int]] = {}
        for f, d in conn.execute('SELECT facility_id, document_id FROM "FacilityRequirement"'):
            required.setdefault(f, set()).add(d)
        held: dict[int, set[int]] = {}
        for w, d in conn.execute('SELECT worker_id, document_id FROM "DocumentWorker"'):
            held.setdefault(w, set()).add(d)
        return cls(
            workers={i: (a, p) for i, a, p in conn.execute('SELECT id, is_active, profession::text FROM "Worker"')},
            facilities=dict(conn.execute('SELECT id, is_active FROM "Facility"').fetchall()),
            required=required,
            held=held,
            shifts=[Shift(*row) for row in conn.execute(
                'SELECT id, start, "end", profession::text, is_deleted, facility_id, worker_id FROM "Shift"')],
        )  # fmt: skip

    def eligible_facilities(self, worker_id: int) -> set[int]:
        """Active facilities whose every required document the worker holds (activity of the worker aside)."""
        held = self.held.get(worker_id, set())
        return {f for f, active in self.facilities.items() if active and self.required.get(f, set()) <= held}

    def available(self, worker_id: int, start_from=None, start_to=None) -> list[int]:
        """The shift ids available to the worker, ordered by (start, id). KeyError for an unknown worker."""
        active, profession = self.workers[worker_id]
        if not active:
            return []
        mine = [s for s in self.shifts if s.worker_id == worker_id and not s.is_deleted]

        def overlaps_a_claim(s: Shift) -> bool:  # half-open [start, end) ranges
            return any(c.start < s.end and s.start < c.end for c in mine)

        def eligible_at(facility_id: int) -> bool:
            return self.facilities[facility_id] and self.required.get(facility_id, set()) <= self.held.get(
                worker_id, set()
            )

        chosen = [
            s
            for s in self.shifts
            if not s.is_deleted
            and s.worker_id is None
            and s.profession == profession
            and eligible_at(s.facility_id)
            and (start_from is None or s.start >= start_from)
            and (start_to is None or s.start < start_to)
            and not overlaps_a_claim(s)
        ]
        return [s.id for s in sorted(chosen, key=lambda s: (s.start, s.id))]

    def shift(self, shift_id: int) -> Shift | None:
        return next((s for s in self.shifts if s.id == shift_id), None)

    def claim_outcome(self, worker_id: int, shift_id: int) -> str:
        """What shifts.claim_shift() must answer: 'claimed', 'held' (already the worker's), or the refusal as
        'SQLSTATE' / 'SQLSTATE:rule' in the order the rules are checked."""
        shift = self.shift(shift_id)
        if worker_id not in self.workers or shift is None:
            return "CP404"
        if shift.is_deleted:
            return "CP403:shift_deleted"
        if shift.worker_id == worker_id:
            return "held"
        if shift.worker_id is not None:
            return "CP409:taken"
        active, profession = self.workers[worker_id]
        if not active:
            return "CP403:worker_inactive"
        if not self.facilities[shift.facility_id]:
            return "CP403:facility_inactive"
        if shift.profession != profession:
            return "CP403:profession"
        if not self.required.get(shift.facility_id, set()) <= self.held.get(worker_id, set()):
            return "CP403:documents"
        if any(c.start < shift.end and shift.start < c.end for c in self.shifts
               if c.worker_id == worker_id and not c.is_deleted):  # fmt: skip
            return "CP409:overlap"
        return "claimed"

    def release_outcome(self, worker_id: int, shift_id: int) -> str:
        shift = self.shift(shift_id)
        return "released" if shift is not None and shift.worker_id == worker_id else "CP404"

    def claimed(self, worker_id: int, start_from=None, start_to=None) -> list[int]:
        """The worker's non-deleted claims, ordered by (start, id), in the window."""
        mine = [s for s in self.shifts if s.worker_id == worker_id and not s.is_deleted
                and (start_from is None or s.start >= start_from) and (start_to is None or s.start < start_to)]
        return [s.id for s in sorted(mine, key=lambda s: (s.start, s.id))]
