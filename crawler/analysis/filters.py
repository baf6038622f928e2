"""The filters every listing shares (since, site, language, story), as SQL conditions.

Sites match as a host or any host under a domain ("example.org" matches "www.example.org").
Times compare through julianday(), so date-only, "Z" and "+01:00" values all compare right.
"""
from __future__ import annotations

SITE_MATCH = "({col} = :site OR {col} LIKE '%.' || :site)"


def article_conditions(alias: str = "", *, since: str | None = None, site: str | None = None,
                       language: str | None = None,
                       story_id: int | None = None) -> tuple[list[str], dict]:
    """Conditions on articles (``alias`` such as "a." for a joined table)."""
    where, params = [], {}
    if since:
        where.append(f"julianday(coalesce({alias}published, {alias}first_seen)) "
                     f">= julianday(:since)")
        params["since"] = since
    if site:
        where.append(SITE_MATCH.format(col=f"{alias}site"))
        params["site"] = site
    if language:
        where.append(f"{alias}language = :language")
        params["language"] = language
    if story_id is not None:
        where.append(f"{alias}story_id = :story_id")
        params["story_id"] = story_id
    return where, params


def story_conditions(alias: str = "", *, since: str | None = None, site: str | None = None,
                     language: str | None = None,
                     story_id: int | None = None) -> tuple[list[str], dict]:
    """Conditions on stories: first published since, a copy on ``site`` / in ``language``."""
    where, params = [], {}
    story = f"{alias}id" if alias else "stories.id"
    if since:
        where.append(f"julianday(coalesce({alias}first_published, {alias}first_seen)) "
                     f">= julianday(:since)")
        params["since"] = since
    copy_where, copy_params = article_conditions("c.", site=site, language=language)
    if copy_where:
        where.append(f"EXISTS (SELECT 1 FROM articles c WHERE c.story_id = {story} AND "
                     + " AND ".join(copy_where) + ")")
        params.update(copy_params)
    if story_id is not None:
        where.append(f"{story} = :story_id")
        params["story_id"] = story_id
    return where, params


def where_clause(where: list[str]) -> str:
    return " WHERE " + " AND ".join(where) if where else ""
