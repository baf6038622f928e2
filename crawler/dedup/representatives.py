"""Which candidates a new article is verified against: all of a small story, a few of a big one.

The index proposes candidates (:meth:`.index.Index.probe`). Verifying every one of them makes
a story's cost and its links grow with the square of its copies: the 500th copy of a wire
story would be compared with the 101 first ones and linked to all of them. Instead the
candidates are grouped by component (the articles already joined by verified links):

- a component with at most ``story_representatives`` candidates: every candidate is
  verified, and every verified pair is linked (what small stories always had);
- a bigger one: only its *representatives* are verified, in order, and the first that
  verifies is the one link kept: the canonical article of the story (the one a copy is most
  likely a copy of, and the one whose analysed text stays cached), then the candidates whose
  MinHash signatures agree most with the new article (a teaser's fullest copy, an update's
  nearest version), ``story_representatives`` at most. The same-site copies that site groups
  need (see :mod:`.stories`) are looked up in the story itself, first ids first, since the
  index only shows a big key's first holders.

So a copy joining a story of 5,000 costs about what a copy joining a story of 2 does, and
adds one link.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .index import Index


@dataclass(frozen=True)
class StoryGroup:
    """The representatives of one big component, in the order they are verified."""

    story: int
    representatives: list[int]
    same_site: list[int]  # its articles on the new article's site (site groups)


@dataclass
class Plan:
    """What a new article is verified against."""

    every: list[int]  # verified one by one, each linked if it verifies
    stories: list[StoryGroup] = field(default_factory=list)  # the first that verifies

    def __bool__(self) -> bool:
        return bool(self.every or self.stories)


def plan(index: Index, article_id: int, signature: np.ndarray, site: str | None,
         candidates: set[int], representatives: int) -> Plan:
    """Group ``candidates`` of ``article_id`` (signature ``signature``, on ``site``) by
    component and choose the representatives of those with more than ``representatives``
    candidates (see the module docstring)."""
    candidates = {c for c in candidates if c != article_id}
    if len(candidates) <= representatives:
        return Plan(sorted(candidates))
    components = index.components_of(candidates)
    by_component: dict[int, list[int]] = defaultdict(list)
    for candidate in sorted(candidates):
        by_component[components[candidate]].append(candidate)
    every = sorted(c for ids in by_component.values() if len(ids) <= representatives for c in ids)
    big = [ids for ids in by_component.values() if len(ids) > representatives]
    if not big:
        return Plan(every)
    ids = np.array([c for group in big for c in group], dtype=np.int64)
    agree = np.count_nonzero(index.signature_rows(ids) == signature, axis=1)
    similarity = dict(zip(ids.tolist(), agree.tolist()))
    stories = []
    for group in big:
        ordered = sorted(group, key=lambda c: (-similarity[c], c))
        story, canonical = index.story_of(ordered[0])
        chosen = [a for a in dict.fromkeys([canonical, *ordered]) if a < article_id]
        chosen = chosen[:representatives]
        same_site = index.story_members_on_site(story, site, article_id, representatives)
        stories.append(StoryGroup(story, chosen, same_site))
    return Plan(every, stories)
