"""Accent-insensitive search on PostgreSQL (PROTOCOL.md 9.5), as SQLite's FTS5 already is
(its unicode61 tokenizer removes diacritics): `cafe` finds `café` and `café` finds `cafe`.

The search index of 0004_search is rebuilt over `campfire_unaccent(content)`. An index
expression may only call IMMUTABLE functions, and the `unaccent` extension's function is only
STABLE (its dictionary could change), so `campfire_unaccent` is an immutable SQL wrapper that
names the dictionary explicitly, schema-qualified (an index must not depend on search_path).
Where the extension cannot be created (no privilege, not installed with the server), the
migration does not fail: `campfire_unaccent` is then a `translate()` of the accented Latin
letters (Latin-1 and Latin Extended-A/B) to their base letters, plus ß, æ, œ and þ, and a
warning says so. Rebuilding the index indexes the messages already stored. Nothing changes on
SQLite.

Revision ID: 0007_search_unaccent
Revises: 0006_people
Create Date: 2026-11-30
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_search_unaccent"
down_revision: str | None = "0006_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

# Letters whose accents `translate()` removes when the extension is unavailable.
ACCENTED = (
    "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆ"
    "ćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐő"
    "ŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛ"
    "ǜǞǟǠǡǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯ"
    "ȰȱȲȳØøĐđŁłĦħŦŧıÐð"
)
BASE = (
    "AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaC"
    "cCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJjKkLlLlLlNnNnNnOoOoOo"
    "RrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZzOoUuAaIiOoUuUuUuUuU"
    "uAaAaGgKkOoOojGgNnAaAaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAaEeOoOoOo"
    "OoYyOoDdLlHhTtiDd"
)
UNACCENT_SCHEMA = (
    "SELECT quote_ident(n.nspname) FROM pg_extension e"
    " JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent'"
)
WITH_EXTENSION = (
    "CREATE OR REPLACE FUNCTION campfire_unaccent(text) RETURNS text"
    " LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT"
    " AS $$ SELECT {schema}.unaccent('{schema}.unaccent'::regdictionary, $1) $$"
)
FALLBACK = (
    "CREATE OR REPLACE FUNCTION campfire_unaccent(text) RETURNS text"
    " LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT"
    " AS $$ SELECT replace(replace(replace(replace(replace(replace(replace(replace(replace("
    f"translate($1, '{ACCENTED}', '{BASE}'),"
    " 'ß', 'ss'), 'Æ', 'AE'), 'æ', 'ae'), 'Œ', 'OE'), 'œ', 'oe'), 'Þ', 'TH'), 'þ', 'th'),"
    " 'ẞ', 'SS'), 'ĳ', 'ij') $$"
)
SPLIT = "'[[:punct:][:space:]]+', ' ', 'g'"
NEW_INDEX = (
    "CREATE INDEX ix_messages_search ON messages USING gin (to_tsvector('simple'::regconfig,"
    f" regexp_replace(campfire_unaccent(content), {SPLIT})))"
)
OLD_INDEX = (
    "CREATE INDEX ix_messages_search ON messages USING gin (to_tsvector('simple'::regconfig,"
    f" regexp_replace(content, {SPLIT})))"
)


def create_unaccent(bind: sa.Connection, extension: str = "unaccent") -> bool:
    """Define `campfire_unaccent`: over the extension when it exists or can be created (True),
    else the `translate()` fallback (False). `extension` is a parameter for the tests only."""
    try:
        # A savepoint: a refused CREATE EXTENSION must not abort the migration's transaction.
        with bind.begin_nested():
            bind.execute(sa.text(f"CREATE EXTENSION IF NOT EXISTS {extension}"))
        schema = bind.execute(sa.text(UNACCENT_SCHEMA)).scalar()
    except sa.exc.DBAPIError as exc:
        log.warning(
            "the unaccent extension could not be created (%s); search removes the accents of "
            "Latin letters only (a superuser can run CREATE EXTENSION unaccent, then "
            "`campfire migrate` again after a downgrade to 0006_people for the full rules)",
            str(exc.orig).strip().splitlines()[0],
        )
        schema = None
    if schema is None:
        bind.execute(sa.text(FALLBACK))
        return False
    bind.execute(sa.text(WITH_EXTENSION.format(schema=schema)))
    return True


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        return  # FTS5's unicode61 tokenizer already removes diacritics (0004_search)
    create_unaccent(bind)
    op.execute("DROP INDEX IF EXISTS ix_messages_search")
    op.execute(NEW_INDEX)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute("DROP INDEX IF EXISTS ix_messages_search")
    op.execute(OLD_INDEX)
    # The extension stays: other things may use it, and dropping it needs a superuser.
    op.execute("DROP FUNCTION IF EXISTS campfire_unaccent(text)")
