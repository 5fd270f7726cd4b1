"""Schema migrations: Alembic, run from code, with a version table of their own.

Flask-Handoff's tables change with its releases (``migrations/versions`` holds one script
per change), and an installation must follow without losing a queued job. Its history is
kept in ``handoff_alembic_version``, never in the host application's ``alembic_version``,
so the two never collide. :class:`Migrations` is public: an application can run its own
Alembic history the same way (phonetool does).

Bringing a database up to date (``ensure_current``, what ``HANDOFF_CREATE_TABLES`` does at
start) takes a lock first, so server processes starting together migrate once:

- an empty database gets the tables from the models, stamped at head (quick, and a test
  holds the models and the migrations to the same schema);
- a database made before migrations existed (the tables, no version table) is stamped at
  the first revision, which is that schema exactly, then upgraded;
- any other is upgraded to head.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc, inspect, text

from .schema import metadata

if TYPE_CHECKING:
    from collections.abc import Iterator

    from alembic.config import Config
    from sqlalchemy import Connection, Engine, MetaData


class Migrations:
    """One Alembic history: where its scripts are, which tables it owns, where it keeps
    its version.

    >>> handoff_migrations.upgrade(engine)            # to head
    >>> handoff_migrations.downgrade(engine, "-1")    # one step back
    >>> handoff_migrations.current(engine)            # "handoff_0001" (None: never migrated)
    """

    def __init__(
        self,
        script_location: str,
        metadata: MetaData,
        version_table: str,
        baseline: str,
        known_head: str | None = None,
    ) -> None:
        self.script_location = script_location
        self.metadata = metadata
        self.version_table = version_table
        #: The revision that is the schema as it was before migrations existed.
        self.baseline = baseline
        #: The newest revision, stated by the history's owner (and held to the scripts by
        #: a test): a database already there is then seen without Alembic, whose import
        #: and migration contexts were ~0.3 s of every process's start. None: always ask
        #: Alembic.
        self.known_head = known_head

    def config(self, connection: Connection | None = None) -> Config:
        """Alembic's configuration, for its ``command`` functions and for ``env.py``."""
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", self.script_location)
        cfg.attributes["connection"] = connection
        cfg.attributes["migrations"] = self
        return cfg

    def head(self) -> str:
        from alembic.script import ScriptDirectory

        return str(ScriptDirectory.from_config(self.config()).get_current_head())

    def current(self, engine: Engine) -> str | None:
        from alembic.migration import MigrationContext

        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": self.version_table})
            return context.get_current_revision()

    def owns(self, name: str | None, kind: str, parent: object) -> bool:
        """Alembic's ``include_name``: this history's tables only, so another history's
        tables in the same database are neither compared nor touched."""
        return kind != "table" or name in self.metadata.tables

    def differences(self, engine: Engine) -> list[Any]:
        """What ``autogenerate`` would write: empty when the database matches the models."""
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        with engine.connect() as conn:
            opts = {"include_name": self.owns, "compare_type": True}
            return list(
                compare_metadata(MigrationContext.configure(conn, opts=opts), self.metadata)
            )

    def upgrade(self, engine: Engine, revision: str = "head") -> None:
        from alembic import command

        with schema_lock(engine) as conn:
            command.upgrade(self.config(conn), revision)

    def downgrade(self, engine: Engine, revision: str) -> None:
        from alembic import command

        with schema_lock(engine) as conn:
            command.downgrade(self.config(conn), revision)

    def ensure_current(self, engine: Engine) -> None:
        """Bring the database to head, however it starts (see the module's doc)."""
        if self.known_head is not None and self._recorded(engine) == [self.known_head]:
            return  # already there, the usual start
        from alembic import command

        with schema_lock(engine) as conn:
            tables = set(inspect(conn).get_table_names())
            owned = set(self.metadata.tables)
            cfg = self.config(conn)
            if self.version_table in tables:
                command.upgrade(cfg, "head")
            elif not owned & tables:
                self.metadata.create_all(conn)
                command.stamp(cfg, "head")
            else:
                command.stamp(cfg, self.baseline)
                command.upgrade(cfg, "head")

    def _recorded(self, engine: Engine) -> list[str] | None:
        """The revisions the version table holds; None where there is none to read."""
        try:
            with engine.connect() as conn:
                rows = conn.execute(text(f"SELECT version_num FROM {self.version_table}"))
                return [str(row[0]) for row in rows]
        except exc.DBAPIError:  # no version table yet
            return None


@contextlib.contextmanager
def schema_lock(engine: Engine) -> Iterator[Connection]:
    """A transaction in which the schema may change, one process at a time: processes
    that start at once migrate one after the other, each seeing what the one before
    committed.

    PostgreSQL: an advisory lock that the transaction's end releases. SQLite: a lock file
    beside the database, taken before the transaction begins and let go after it
    commits. (Let go before the commit, the next process saw the tables, which SQLite
    creates outside the transaction, but not the version row, which is inside it, and
    ran the first migration again: "table already exists".)
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                key = int.from_bytes(hashlib.sha256(b"handoff-schema").digest()[:7], "big")
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield conn
        return
    with open(f"{database}.schema-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with engine.begin() as conn:
                yield conn
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


#: Where Flask-Handoff keeps its schema version, apart from the application's.
VERSION_TABLE = "handoff_alembic_version"
#: Its scripts, for an application that runs them in its own history instead
#: (``version_locations``; see the README).
VERSIONS = str(Path(__file__).parent / "migrations" / "versions")


#: The newest script in migrations/versions: a new migration moves it (a test says so).
HEAD = "handoff_0005"


def _handoff_migrations() -> Migrations:
    return Migrations(
        "flask_handoff:migrations",
        metadata,
        VERSION_TABLE,
        baseline="handoff_0001",
        known_head=HEAD,
    )


#: Flask-Handoff's own history: ``handoff_migrations.upgrade(engine)`` and the rest.
handoff_migrations = _handoff_migrations()
