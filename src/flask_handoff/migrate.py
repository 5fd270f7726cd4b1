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

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from .schema import metadata

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Connection, Engine, MetaData


class Migrations:
    """One Alembic history: where its scripts are, which tables it owns, where it keeps
    its version.

    >>> handoff_migrations.upgrade(engine)            # to head
    >>> handoff_migrations.downgrade(engine, "-1")    # one step back
    >>> handoff_migrations.current(engine)            # "handoff_0001" (None: never migrated)
    """

    def __init__(
        self, script_location: str, metadata: MetaData, version_table: str, baseline: str
    ) -> None:
        self.script_location = script_location
        self.metadata = metadata
        self.version_table = version_table
        #: The revision that is the schema as it was before migrations existed.
        self.baseline = baseline

    def config(self, connection: Connection | None = None) -> Config:
        """Alembic's configuration, for its ``command`` functions and for ``env.py``."""
        cfg = Config()
        cfg.set_main_option("script_location", self.script_location)
        cfg.attributes["connection"] = connection
        cfg.attributes["migrations"] = self
        return cfg

    def head(self) -> str:
        return str(ScriptDirectory.from_config(self.config()).get_current_head())

    def current(self, engine: Engine) -> str | None:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": self.version_table})
            return context.get_current_revision()

    def owns(self, name: str | None, kind: str, parent: object) -> bool:
        """Alembic's ``include_name``: this history's tables only, so another history's
        tables in the same database are neither compared nor touched."""
        return kind != "table" or name in self.metadata.tables

    def differences(self, engine: Engine) -> list[Any]:
        """What ``autogenerate`` would write: empty when the database matches the models."""
        with engine.connect() as conn:
            opts = {"include_name": self.owns, "compare_type": True}
            return list(
                compare_metadata(MigrationContext.configure(conn, opts=opts), self.metadata)
            )

    def upgrade(self, engine: Engine, revision: str = "head") -> None:
        with schema_lock(engine) as conn:
            command.upgrade(self.config(conn), revision)

    def downgrade(self, engine: Engine, revision: str) -> None:
        with schema_lock(engine) as conn:
            command.downgrade(self.config(conn), revision)

    def ensure_current(self, engine: Engine) -> None:
        """Bring the database to head, however it starts (see the module's doc)."""
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


def _handoff_migrations() -> Migrations:
    return Migrations("flask_handoff:migrations", metadata, VERSION_TABLE, baseline="handoff_0001")


#: Flask-Handoff's own history: ``handoff_migrations.upgrade(engine)`` and the rest.
handoff_migrations = _handoff_migrations()
