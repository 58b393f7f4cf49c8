"""The interview panel: who asks each question, who asks each follow-up, and in what voice.

The three interviewers are data (`bundled/panel.yaml`): a name, a role, the rubric axes each one
owns, lead-ins in their voice and their write-up recommendations. Questions rotate through the
panel; a follow-up is asked by the owner of the gap it probes (`axis:cost` by whoever owns cost)
and any other follow-up (STAR, red flag, key point, probing note, engagement, off topic) by the
interviewer who asked the question. Which follow-up to ask is decided elsewhere
(`followups.py`); this module only says who says it and how it opens.
"""

from __future__ import annotations

from functools import cache

import yaml
from pydantic import BaseModel, Field

from interviewer.resources import package_path


class PanelInterviewer(BaseModel):
    id: str
    name: str
    role: str
    owns: list[str]
    asks: str
    lead_ins: dict[str, list[str]]
    recommendations: dict[str, str]
    blocks_on: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name} · {self.role}"


class Panel(BaseModel):
    order: list[str]
    interviewers: list[PanelInterviewer]

    def get(self, interviewer_id: str | None) -> PanelInterviewer | None:
        return next((i for i in self.interviewers if i.id == interviewer_id), None)

    def rotation(self, n: int, seed: int = 0) -> list[str]:
        """Who asks each of `n` questions: the panel's order, started at a seeded place."""
        return [self.order[(i + seed) % len(self.order)] for i in range(n)]

    def owner(self, axis: str) -> PanelInterviewer | None:
        return next((i for i in self.interviewers if axis in i.owns), None)

    def speaker_for(self, target: str | None, asker: str | None) -> str | None:
        """An axis follow-up goes to the axis's owner; everything else to the question's asker."""
        if target and target.startswith("axis:"):
            owner = self.owner(target.split(":", 1)[1])
            if owner is not None:
                return owner.id
        return asker

    def lead_in(self, speaker: str | None, target: str | None, turn: int) -> str:
        """The speaker's opener for a follow-up on `target` (full target, then its kind, then
        `default`), rotated by `turn` so two follow-ups in a row do not open the same way."""
        person = self.get(speaker)
        if person is None:
            return ""
        target = target or ""
        options = (
            person.lead_ins.get(target) or person.lead_ins.get(target.split(":")[0]) or person.lead_ins.get("default")
        )
        return options[turn % len(options)] if options else ""


@cache
def panel() -> Panel:
    path = package_path("bundled", "panel.yaml")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    loaded = Panel.model_validate(data)
    ids = {i.id for i in loaded.interviewers}
    if set(loaded.order) != ids:  # a typo in the file would silently leave someone out of the rotation
        raise ValueError(f"panel.yaml: order {loaded.order} does not name every interviewer {sorted(ids)}")
    return loaded
