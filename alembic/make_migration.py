"""`make migration NAME=<slug>`: the next revision, written from what the current files changed.

What changed "since the last migration" is decided by PostgreSQL, not by dates, commits or a record that could go
stale: a throw-away server (or --server) builds carepg twice, once by the migrations (the head revision: what every
database deployed at head holds) and once from the current files (sql/install.sql's list), and the two databases are
compared object by object. What differs in replaceable objects becomes the revision:

    functions, procedures   CREATE OR REPLACE; new ones created, removed ones dropped
    views                   CREATE OR REPLACE VIEW (PostgreSQL lets a view only gain columns at the end)
    triggers                CREATE OR REPLACE TRIGGER
    comments                COMMENT ON ... IS
    privileges              REVOKE ALL from the grantees the object had, then the GRANTs it should have, in order

The up holds the definitions the current files build, the down the same objects as the head revision built them,
so a downgrade puts back exactly what was there (a grant the up added is revoked again). Anything else that differs
(tables and columns, indexes, constraints, types, schemas, materialized views, extensions, default privileges,
reference rows, roles) cannot simply be replaced: the command says which file and stops. Write that part by hand in
sql/migrations/<rev>_<slug>.sql and .down.sql and run the command again: your files become the beginning of the up
and the end of the down, and it adds the replaceable rest between its markers.

A function's signature (argument types or names, result, a default removed) never changes in place: CREATE OR REPLACE
cannot do it, and DROP and CREATE in one revision break every client still running the old code during a rolling
deploy. A new signature is a new function, name_v2, beside the old one; a later migration drops the old one (README,
"Changing carepg"). The command refuses an in-place change.

Before it ends, the command proves its revision: applied by Alembic to a database at the previous head it gives exactly
what the current files give (pg_dump of the schema, owners, privileges and reference rows), its downgrade gives back
exactly the previous head, and sql/schema.sql is written from the result. If any step fails, nothing stays written.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
from alembic import command
from psycopg import sql

import schema_dump
from carepg import cluster, migrations, paths
from carepg.errors import CarepgError

ROOT = schema_dump.ROOT
MIGRATIONS = ROOT / "sql" / "migrations"
VERSIONS = ROOT / "alembic" / "versions"
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Where the hand-written part of a revision ends (up) or starts (down); what the command writes is on the other side.
HAND_WRITTEN_UP_ENDS = ("-- make migration: the part above is written by hand; the part below is generated from the "
                        "current files.")
HAND_WRITTEN_DOWN_STARTS = "-- make migration: the part above is generated; the part below is written by hand."
GENERATED = "written by `make migration"  # in the first line of a revision this command wrote whole
SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
# pg_dump's kinds of entries this command writes; a difference in any other kind is for a hand-written migration.
REPLACEABLE = {"FUNCTION", "PROCEDURE", "VIEW", "TRIGGER", "COMMENT", "ACL"}
USER_SCHEMA = "{nsp} <> 'information_schema' AND {nsp} !~ '^pg_'"


class Refused(Exception):
    """What the command will not do, one self-contained line per file or object."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


# -- reading a database ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Definition:
    """A replaceable object as one database holds it. `key` (pg_identify_object's type and identity) names the same
    object in both databases; `fixed` is what CREATE OR REPLACE cannot change about it."""

    key: str
    oid: int
    label: str  # for people: "function shifts.f(worker_id integer)"
    owner: str
    create: str
    drop: str
    family: str = ""  # functions: schema.name, to tell a new signature of the same function
    fixed: tuple = ()


def _functions(conn: psycopg.Connection) -> list[Definition]:
    rows = conn.execute(f"""
        SELECT o.type || ' ' || o.identity, p.oid, p.prokind,
               format('%s.%s(%s)', quote_ident(n.nspname), quote_ident(p.proname),
                      pg_get_function_identity_arguments(p.oid)),
               n.nspname || '.' || p.proname, pg_get_userbyid(p.proowner), pg_get_functiondef(p.oid),
               pg_get_function_result(p.oid), p.proargnames::text, p.proargmodes::text,
               p.proallargtypes::regtype[]::text, p.pronargdefaults
        FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace,
             LATERAL pg_identify_object('pg_proc'::regclass, p.oid, 0) AS o
        WHERE p.prokind IN ('f', 'p') AND {USER_SCHEMA.format(nsp='n.nspname')}
          AND NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                                     AND d.deptype = 'e')
    """).fetchall()  # fmt: skip
    found = []
    for key, oid, prokind, name, family, owner, definition, *fixed in rows:
        kind = "PROCEDURE" if prokind == "p" else "FUNCTION"
        found.append(Definition(
            key=key, oid=oid, label=f"{kind.lower()} {name}", owner=owner, create=definition.rstrip() + ";",
            drop=f"DROP {kind} {name};", family=family, fixed=tuple(fixed),
        ))  # fmt: skip
    return found


def _views(conn: psycopg.Connection) -> list[Definition]:
    rows = conn.execute(f"""
        SELECT o.type || ' ' || o.identity, c.oid, c.oid::regclass::text, pg_get_userbyid(c.relowner),
               pg_get_viewdef(c.oid), c.reloptions,
               array(SELECT format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)) FROM pg_attribute AS a
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
        FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace,
             LATERAL pg_identify_object('pg_class'::regclass, c.oid, 0) AS o
        WHERE c.relkind = 'v' AND {USER_SCHEMA.format(nsp='n.nspname')}
          AND NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                                     AND d.deptype = 'e')
    """).fetchall()  # fmt: skip
    found = []
    for key, oid, name, owner, query, options, columns in rows:
        with_options = f" WITH ({', '.join(options)})" if options else ""
        found.append(Definition(
            key=key, oid=oid, label=f"view {name}", owner=owner,
            create=f"CREATE OR REPLACE VIEW {name}{with_options} AS\n{query.strip().rstrip(';')};",
            drop=f"DROP VIEW {name};", fixed=tuple(columns),
        ))  # fmt: skip
    return found


def _triggers(conn: psycopg.Connection) -> list[Definition]:
    rows = conn.execute(f"""
        SELECT o.type || ' ' || o.identity, t.oid, format('%I ON %s', t.tgname, t.tgrelid::regclass),
               pg_get_userbyid(c.relowner), pg_get_triggerdef(t.oid), t.tgconstraint <> 0, t.tgenabled
        FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace,
             LATERAL pg_identify_object('pg_trigger'::regclass, t.oid, 0) AS o
        WHERE NOT t.tgisinternal AND {USER_SCHEMA.format(nsp='n.nspname')}
    """).fetchall()  # fmt: skip
    found = []
    for key, oid, name, owner, definition, is_constraint, enabled in rows:
        found.append(Definition(
            key=key, oid=oid, label=f"trigger {name}", owner=owner,
            create=definition.replace("CREATE TRIGGER", "CREATE OR REPLACE TRIGGER", 1) + ";",
            drop=f"DROP TRIGGER {name};", fixed=(is_constraint, enabled),
        ))  # fmt: skip
    return found


def definitions(conn: psycopg.Connection) -> dict[str, Definition]:
    return {d.key: d for d in [*_functions(conn), *_views(conn), *_triggers(conn)]}


def dependencies(conn: psycopg.Connection) -> set[tuple[str, str]]:
    """(dependent, referenced) keys: a view on a function or another view, a trigger on its function, ..."""
    rows = conn.execute("""
        SELECT dep.type || ' ' || dep.identity, ref.type || ' ' || ref.identity
        FROM pg_depend AS d
        LEFT JOIN pg_rewrite AS r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid,
        LATERAL pg_identify_object(CASE WHEN r.oid IS NULL THEN d.classid ELSE 'pg_class'::regclass END,
                                   coalesce(r.ev_class, d.objid), 0) AS dep,
        LATERAL pg_identify_object(d.refclassid, d.refobjid, 0) AS ref
        WHERE d.deptype = 'n'
          AND d.classid IN ('pg_proc'::regclass, 'pg_rewrite'::regclass, 'pg_trigger'::regclass)
          AND d.refclassid IN ('pg_proc'::regclass, 'pg_class'::regclass)
    """).fetchall()  # fmt: skip
    return {(a, b) for a, b in rows if a != b}


_COMMENT_OWNER = """
    CASE d.classoid
        WHEN 'pg_proc'::regclass THEN (SELECT proowner FROM pg_proc WHERE oid = d.objoid)
        WHEN 'pg_class'::regclass THEN (SELECT relowner FROM pg_class WHERE oid = d.objoid)
        WHEN 'pg_namespace'::regclass THEN (SELECT nspowner FROM pg_namespace WHERE oid = d.objoid)
        WHEN 'pg_type'::regclass THEN (SELECT typowner FROM pg_type WHERE oid = d.objoid)
        WHEN 'pg_extension'::regclass THEN (SELECT extowner FROM pg_extension WHERE oid = d.objoid)
        WHEN 'pg_trigger'::regclass THEN (SELECT c.relowner FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
                                          WHERE t.oid = d.objoid)
        WHEN 'pg_constraint'::regclass THEN (SELECT coalesce(c.relowner, y.typowner) FROM pg_constraint AS k
                                             LEFT JOIN pg_class AS c ON c.oid = k.conrelid
                                             LEFT JOIN pg_type AS y ON y.oid = k.contypid WHERE k.oid = d.objoid)
        WHEN 'pg_rewrite'::regclass THEN (SELECT c.relowner FROM pg_rewrite AS r JOIN pg_class AS c ON c.oid = r.ev_class
                                          WHERE r.oid = d.objoid)
        WHEN 'pg_policy'::regclass THEN (SELECT c.relowner FROM pg_policy AS p JOIN pg_class AS c ON c.oid = p.polrelid
                                         WHERE p.oid = d.objoid)
    END
"""
_COMMENT_KINDS = {"composite type": "TYPE", "table constraint": "CONSTRAINT"}


def _on(identity: str) -> str:
    """'name on schema.table' (pg_identify_object's way) as SQL says it: name ON schema.table."""
    if identity.startswith('"'):
        end = re.match(r'"(?:[^"]|"")*"', identity).end()
    else:
        end = identity.index(" on ")
    return identity[:end] + " ON " + identity[end + len(" on "):]


def comments(conn: psycopg.Connection) -> dict[str, tuple[str, str, str, str]]:
    """Every comment on a non-system object: key -> (COMMENT ON target, owner, text, label)."""
    rows = conn.execute(f"""
        SELECT o.type, o.identity, d.description, pg_get_userbyid({_COMMENT_OWNER}),
               CASE WHEN d.classoid = 'pg_proc'::regclass THEN
                   (SELECT format('%s.%s(%s)', quote_ident(n.nspname), quote_ident(p.proname),
                                  pg_get_function_identity_arguments(p.oid))
                    FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE p.oid = d.objoid)
               END
        FROM pg_description AS d, LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) AS o
        WHERE d.objoid >= 16384
          AND NOT EXISTS (SELECT FROM pg_depend AS e WHERE e.classid = d.classoid AND e.objid = d.objoid
                                                     AND e.deptype = 'e')
    """).fetchall()  # fmt: skip
    found = {}
    for kind, identity, text, owner, function in rows:
        if kind.endswith(" column"):
            target = f"COLUMN {identity}"
        elif kind in ("trigger", "rule", "policy", "table constraint"):
            target = f"{_COMMENT_KINDS.get(kind, kind.upper())} {_on(identity)}"
        else:
            target = f"{_COMMENT_KINDS.get(kind, kind.upper())} {function or identity}"
        found[f"{kind} {identity}"] = (target, owner, text, f"{kind} {function or identity}")
    return found


@dataclasses.dataclass(frozen=True)
class Grant:
    column: str | None
    grantee: str
    grantor: str
    privileges: tuple[str, ...]
    grantable: bool


_ACL_ITEMS = """
    SELECT {kind} || ' ' || {name}, {label} || ' ' || {name}, pg_get_userbyid({owner}), {column},
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
           pg_get_userbyid(a.grantor), a.privilege_type, a.is_grantable
    FROM {source}, LATERAL aclexplode({acl}) WITH ORDINALITY AS a(grantor, grantee, privilege_type, is_grantable, n)
    WHERE {where}
    ORDER BY 1, 4 NULLS FIRST, a.n
"""
_NOT_EXTENSION = ("NOT EXISTS (SELECT FROM pg_depend AS e WHERE e.classid = '{catalog}'::regclass AND e.objid = {oid}"
                  " AND e.deptype = 'e')")  # fmt: skip
_ACL_QUERIES = [
    _ACL_ITEMS.format(
        kind="CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END",
        label="CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END",
        name="format('%s.%s(%s)', quote_ident(n.nspname), quote_ident(p.proname), "
             "pg_get_function_identity_arguments(p.oid))",
        owner="p.proowner", column="NULL", acl="coalesce(p.proacl, acldefault('f', p.proowner))",
        source="pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace",
        where=f"p.prokind IN ('f', 'p') AND {USER_SCHEMA.format(nsp='n.nspname')} AND "
              + _NOT_EXTENSION.format(catalog="pg_proc", oid="p.oid"),
    ),
    _ACL_ITEMS.format(
        kind="CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END", name="c.oid::regclass::text",
        label="(pg_identify_object('pg_class'::regclass, c.oid, 0)).type",
        owner="c.relowner", column="NULL",
        acl="coalesce(c.relacl, acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::\"char\", c.relowner))",
        source="pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace",
        where=f"c.relkind IN ('r', 'v', 'm', 'S', 'f', 'p') AND {USER_SCHEMA.format(nsp='n.nspname')} AND "
              + _NOT_EXTENSION.format(catalog="pg_class", oid="c.oid"),
    ),
    _ACL_ITEMS.format(
        kind="'TABLE'", name="c.oid::regclass::text", owner="c.relowner", column="quote_ident(t.attname)",
        label="(pg_identify_object('pg_class'::regclass, c.oid, 0)).type",
        acl="t.attacl",
        source="pg_attribute AS t JOIN pg_class AS c ON c.oid = t.attrelid JOIN pg_namespace AS n ON n.oid = c.relnamespace",
        where=f"t.attacl IS NOT NULL AND t.attnum > 0 AND {USER_SCHEMA.format(nsp='n.nspname')}",
    ),
    _ACL_ITEMS.format(
        kind="'SCHEMA'", name="quote_ident(n.nspname)", label="'schema'",
        owner="n.nspowner", column="NULL", acl="coalesce(n.nspacl, acldefault('n', n.nspowner))",
        source="pg_namespace AS n", where=USER_SCHEMA.format(nsp="n.nspname"),
    ),
    _ACL_ITEMS.format(
        kind="CASE y.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END", name="format_type(y.oid, NULL)",
        label="CASE y.typtype WHEN 'd' THEN 'domain' ELSE 'type' END",
        owner="y.typowner", column="NULL", acl="coalesce(y.typacl, acldefault('T', y.typowner))",
        source="pg_type AS y JOIN pg_namespace AS n ON n.oid = y.typnamespace",
        where=f"y.typelem = 0 AND (y.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = y.typrelid) = 'c') "
              f"AND {USER_SCHEMA.format(nsp='n.nspname')} AND " + _NOT_EXTENSION.format(catalog="pg_type", oid="y.oid"),
    ),
]  # fmt: skip


@dataclasses.dataclass
class Privileges:
    label: str  # for people: "view mrf.file_class"
    owner: str
    grants: list[Grant] = dataclasses.field(default_factory=list)


def privileges(conn: psycopg.Connection) -> dict[str, Privileges]:
    """Every non-system object's privileges in order (the order decides how pg_dump lists them), by the object's
    name in GRANT: FUNCTION shifts.f(worker_id integer), TABLE mrf.file_class, SCHEMA shifts, ..."""
    found: dict[str, Privileges] = {}
    for query in _ACL_QUERIES:
        for target, label, owner, column, grantee, grantor, privilege, grantable in conn.execute(query).fetchall():
            entry = found.setdefault(target, Privileges(label, owner))
            last = entry.grants[-1] if entry.grants else None
            if last and (last.column, last.grantee, last.grantor, last.grantable) == (column, grantee, grantor, grantable):
                entry.grants[-1] = dataclasses.replace(last, privileges=(*last.privileges, privilege))
            else:
                entry.grants.append(Grant(column, grantee, grantor, (privilege,), grantable))
    return found


def roles(conn: psycopg.Connection) -> list[tuple]:
    """The server's own roles (not PostgreSQL's pg_*), their attributes, comments and memberships."""
    return conn.execute("""
        SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, r.rolreplication,
               r.rolbypassrls, shobj_description(r.oid, 'pg_authid'),
               array(SELECT g.rolname FROM pg_auth_members AS m JOIN pg_roles AS g ON g.oid = m.roleid
                     WHERE m.member = r.oid ORDER BY 1)
        FROM pg_roles AS r WHERE r.rolname !~ '^pg_' ORDER BY 1
    """).fetchall()  # fmt: skip


# -- writing statements ------------------------------------------------------------------------------------------


def _role(name: str) -> str:
    return name if name == "PUBLIC" or re.fullmatch(r"[a-z_][a-z0-9_]*", name) else sql.Identifier(name).as_string()


@dataclasses.dataclass
class Script:
    """Statements, each run as the role that owns its object (None: the role running the migration)."""

    migrator: str
    statements: list[tuple[str | None, str]] = dataclasses.field(default_factory=list)
    changes: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # label -> what changed

    def add(self, role: str, statement: str, label: str, change: str) -> None:
        self.statements.append((None if role == self.migrator else role, statement))
        aspects = self.changes.setdefault(label, [])
        if change not in aspects:
            aspects.append(change)

    def text(self) -> str:
        out, current = [], None
        for role, statement in self.statements:
            if role != current:
                if current:
                    out.append("RESET ROLE;\n")
                if role:
                    out.append(f"SET LOCAL ROLE {_role(role)};\n")
                current = role
            out.append(statement.strip() + "\n")
        if current:
            out.append("RESET ROLE;\n")
        return "\n".join(out)


def _ordered(keys: set[str], objects: dict[str, Definition], depends: set[tuple[str, str]]) -> list[str]:
    """`keys` with whatever each depends on first (ties in creation order: by oid)."""
    pending = sorted(keys, key=lambda k: objects[k].oid)
    done: list[str] = []
    while pending:
        ready = next((k for k in pending if not any((k, r) in depends for r in pending if r != k)), pending[0])
        pending.remove(ready)
        done.append(ready)
    return done


# What CREATE OR REPLACE FUNCTION cannot change, in the order _functions() reads it.
_FIXED = ("its result", "its argument names", "its argument modes", "its argument types", "how many defaults it has")


def replace_definitions(have: psycopg.Connection, want: psycopg.Connection, script: Script, *,
                        going_back: bool = False) -> None:
    """Functions, views and triggers from what `have` holds to what `want` holds. Going forward nothing a running
    client uses may disappear; going back (the down) a view that loses columns is dropped and created again."""
    old, new = definitions(have), definitions(want)
    old_depends = dependencies(have)
    added, removed = new.keys() - old.keys(), old.keys() - new.keys()
    changed = {k for k in new.keys() & old.keys() if new[k].create != old[k].create or new[k].fixed != old[k].fixed}
    recreated = set()
    refusals = []
    for key in sorted(added):
        if new[key].family and (twin := next((old[r] for r in removed if old[r].family == new[key].family), None)):
            refusals.append(f"{twin.label} would become {new[key].label}: a new signature is a new function, "
                            f"{new[key].family}_v2 beside the old one, which a later migration drops (README, "
                            "\"Changing carepg\")")  # fmt: skip
    for key in sorted(changed):
        before, after = old[key], new[key]
        if before.family and before.fixed != after.fixed:
            what = next(f"{aspect} ({was} -> {now})" for aspect, was, now in
                        zip(_FIXED, before.fixed, after.fixed, strict=True) if was != now)  # fmt: skip
            refusals.append(f"{before.label} changes {what}, which CREATE OR REPLACE cannot do: a new signature is a "
                            f"new function, {before.family}_v2 beside this one (README, \"Changing carepg\")")  # fmt: skip
        elif key.startswith("view ") and after.fixed[: len(before.fixed)] != before.fixed:
            users = sorted(a for a, b in old_depends if b == key)
            if going_back and not users:
                recreated.add(key)  # the up added columns at the end; the down takes them away
                continue
            refusals.append(f"{before.label} changes or drops columns ({', '.join(before.fixed)} -> "
                            f"{', '.join(after.fixed)}): CREATE OR REPLACE VIEW only adds columns at the end, and "
                            "dropping the view breaks its readers during a rolling deploy: a new view beside it, or "
                            "a hand-written migration")  # fmt: skip
        elif key.startswith("trigger ") and (before.fixed[0] or after.fixed != before.fixed):
            refusals.append(f"{before.label}: a constraint trigger or one enabled differently is for a hand-written "
                            "migration")  # fmt: skip
    if refusals:
        raise Refused(*refusals)
    for key in _ordered(added | changed, new, dependencies(want)):
        if key in recreated:
            script.add(old[key].owner, old[key].drop, old[key].label, "dropped")
            script.add(new[key].owner, new[key].create.replace("CREATE OR REPLACE VIEW", "CREATE VIEW", 1),
                       new[key].label, "new")
        else:
            script.add(new[key].owner, new[key].create, new[key].label, "new" if key in added else "definition")
    for key in reversed(_ordered(removed, old, old_depends)):
        script.add(old[key].owner, old[key].drop, old[key].label, "dropped")


def _literal(text: str) -> str:
    tag = "$comment$"
    if tag not in text:
        return f"{tag}{text}{tag}"
    return "'" + text.replace("'", "''") + "'"


def set_comments(have: psycopg.Connection, want: psycopg.Connection, script: Script) -> None:
    old, new = comments(have), comments(want)
    for key in sorted(new.keys() | old.keys()):
        if key in new and key in old and old[key][2] == new[key][2]:
            continue
        target, owner, text, label = new[key] if key in new else (*old[key][:2], None, old[key][3])
        value = "NULL" if text is None else _literal(text)
        script.add(owner, f"COMMENT ON {target} IS {value};", label, "comment")


def set_privileges(have: psycopg.Connection, want: psycopg.Connection, script: Script) -> None:
    """Objects whose privileges differ: revoke what the object has, then grant what it should have, in order."""
    old, new = privileges(have), privileges(want)
    for target in sorted(new):
        wanted, had = new[target], old.get(target)
        if had is not None and had.grants == wanted.grants:
            continue
        label = wanted.label
        revoked = list(dict.fromkeys(g.grantee for g in (had.grants if had else []) if g.grantee != wanted.owner))
        if revoked:
            script.add(wanted.owner, f"REVOKE ALL ON {target} FROM {', '.join(map(_role, revoked))};", label,
                       "privileges")  # fmt: skip
        # The owner's own rights come with the object; the others in order, one GRANT for a run of grantees that
        # get the same privileges from the same grantor.
        runs: list[tuple[Grant, list[str]]] = []
        for grant in wanted.grants:
            if grant.grantee == wanted.owner and grant.column is None:
                continue
            if runs and dataclasses.replace(runs[-1][0], grantee="") == dataclasses.replace(grant, grantee=""):
                runs[-1][1].append(_role(grant.grantee))
            else:
                runs.append((grant, [_role(grant.grantee)]))
        for grant, grantees in runs:
            columns = f" ({grant.column})" if grant.column else ""
            option = " WITH GRANT OPTION" if grant.grantable else ""
            script.add(grant.grantor, f"GRANT {', '.join(grant.privileges)}{columns} ON {target} TO "
                                      f"{', '.join(grantees)}{option};", label, "privileges")  # fmt: skip


# -- pg_dump, object by object -----------------------------------------------------------------------------------

_ENTRY = re.compile(r"^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: .*$")
_NOISE = ("--", "SET ", "SELECT pg_catalog.set_config", "\\restrict", "\\unrestrict")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A database as pg_dump sees it: its entries, (type, schema, name) -> text, for the schema and the rows, and
    the two normalised dumps the tests compare (`schema` is what sql/schema.sql holds)."""

    entries: dict[tuple[str, str, str], str]
    schema: str
    rows: str


def snapshot(url: str, bindir: Path) -> Snapshot:
    found: dict[tuple[str, str, str], str] = {}
    texts = []
    for data in (False, True):
        text = schema_dump.pg_dump(url, bindir, data=data)
        texts.append(schema_dump.header(url) + schema_dump.normalise(text))
        key = None
        for line in text.splitlines():
            if match := _ENTRY.match(line):
                key = (match.group(2), match.group(3), match.group(1))
                found[key] = ""
            elif key and line.strip() and not line.startswith(_NOISE):
                found[key] += line + "\n"
    return Snapshot(found, *texts)


def differences(old: dict, new: dict) -> list[tuple[tuple[str, str, str], str]]:
    return [(key, "is new" if key not in old else "is gone" if key not in new else "changed")
            for key in sorted(old.keys() | new.keys()) if old.get(key) != new.get(key)]  # fmt: skip


def mismatch(when: str, expected: Snapshot, actual: Snapshot) -> list[str]:
    """How `actual` differs from `expected` (schema, owners, privileges, rows), one line per object."""
    found = [f"{when}: {kind.lower()} {schema}.{name} {change}"
             for (kind, schema, name), change in differences(expected.entries, actual.entries)]  # fmt: skip
    if not found and (expected.schema, expected.rows) != (actual.schema, actual.rows):
        found.append(f"{when}: pg_dump lists the same objects in another order")
    return found


# -- the current files, and which one defines what -----------------------------------------------------------------

_CREATED = """
    SELECT n.nspname, c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE {user} UNION
    SELECT n.nspname, p.proname FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace WHERE {user} UNION
    SELECT n.nspname, y.typname FROM pg_type AS y JOIN pg_namespace AS n ON n.oid = y.typnamespace WHERE {user} UNION
    SELECT '-', n.nspname FROM pg_namespace AS n WHERE {user} UNION
    SELECT '-', extname FROM pg_extension
""".format(user=USER_SCHEMA.format(nsp="n.nspname"))


def install_current(url: str) -> dict[tuple[str, str], str]:
    """schema_dump.install_current(), noting which file created each relation, function, type, schema, extension."""
    created: dict[tuple[str, str], str] = {}
    with psycopg.connect(url) as conn, conn.transaction():
        for relative in paths.install_files():
            try:
                conn.execute(paths.sql_text(relative))
            except psycopg.Error as exc:
                raise Refused(f"sql/{relative} fails (installing the current files in sql/install.sql's order): "
                              f"{str(exc).splitlines()[0]}") from None  # fmt: skip
            for schema, name in conn.execute(_CREATED).fetchall():
                created.setdefault((schema, name), f"sql/{relative}")
    return created


def file_of(created: dict[tuple[str, str], str], schema: str, name: str) -> str | None:
    word = name.replace('"', "").split("(")[0].split(" ")[0]
    return created.get((schema, word)) or created.get(("-", word))


# -- the command ---------------------------------------------------------------------------------------------------


def next_revision(revisions: list[str]) -> str:
    """The next multiple of ten after the highest numbered revision (0080 -> 0090): room for a fix in between."""
    return f"{(max(int(r) for r in revisions if r.isdigit()) // 10 + 1) * 10:04d}"


def hand_written(stem: str) -> tuple[str, str]:
    """The hand-written parts of sql/migrations/<stem>.sql and .down.sql, if the author wrote them."""
    up, down = MIGRATIONS / f"{stem}.sql", MIGRATIONS / f"{stem}.down.sql"
    if up.exists() != down.exists():
        missing = down if up.exists() else up
        raise Refused(f"{missing.relative_to(ROOT)} is missing: a hand-written part needs its up and its down")
    if not up.exists() or GENERATED in up.read_text().partition("\n")[0]:
        return "", ""  # nothing, or a revision written wholly by this command before (being written again)
    return up.read_text().split(HAND_WRITTEN_UP_ENDS)[0], down.read_text().split(HAND_WRITTEN_DOWN_STARTS)[-1]


class Workspace:
    """The databases the command builds, on a throw-away server or, with --server, on one that runs already (they
    get names of their own there and are dropped at the end)."""

    def __init__(self, admin_url: str, bindir: Path, prefix: str) -> None:
        self.admin_url, self.bindir, self.prefix = admin_url, bindir, prefix
        self.names: list[str] = []

    def create(self, name: str, template: str | None = None) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.prefix + name))
            if template:
                statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(self.prefix + template))
            conn.execute(statement)
        self.names.append(self.prefix + name)
        return self.url(name)

    def url(self, name: str) -> str:
        return psycopg.conninfo.make_conninfo(self.admin_url, dbname=self.prefix + name)

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in reversed(self.names):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def workspace(server_url: str | None) -> Iterator[Workspace]:
    if server_url is None:
        with cluster.temporary("carepg-migration-", settings=SETTINGS) as server:
            yield Workspace(server.url("postgres"), server.bindir, "")
        return
    try:
        psycopg.connect(server_url).close()
    except psycopg.Error as exc:
        raise Refused(f"cannot connect to --server: {str(exc).splitlines()[0]}") from None
    space = Workspace(server_url, cluster.find_bindir(), f"carepg_migration_{os.getpid()}_")
    try:
        yield space
    finally:
        space.drop()


def _run(url: str, text: str, what: str) -> None:
    try:
        with psycopg.connect(url) as conn, conn.transaction():
            conn.execute(text)
    except psycopg.Error as exc:
        raise Refused(f"{what} fails: {str(exc).splitlines()[0]}") from None


def _connect(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET search_path = pg_catalog")  # every name below comes out schema-qualified
    return conn


def preconditions(name: str) -> tuple[str, str]:
    """What must hold before any database work: (the head revision, the new revision's id)."""
    if not NAME.fullmatch(name):
        raise Refused(f"NAME must be a short slug ([a-z][a-z0-9_]*, at most 40 characters), got {name!r}")
    if paths.SQL_DIR.resolve() != (ROOT / "sql").resolve():
        raise Refused(f"this checkout ({ROOT}) imports carepg from {paths.SQL_DIR.parent}: run it with "
                      f"PYTHONPATH={ROOT / 'cli'}")  # fmt: skip
    unlisted = schema_dump.unlisted_files()
    if unlisted:
        raise Refused(*[f"sql/{f} is not listed in sql/install.sql: add `\\ir {f}` after the files it needs"
                        for f in unlisted])  # fmt: skip
    missing = [f for f in paths.install_files() if not (paths.SQL_DIR / f).exists()]
    if missing:
        raise Refused(*[f"sql/install.sql lists {f}, which does not exist" for f in missing])
    script_dir = migrations.ScriptDirectory.from_config(migrations.config())
    heads = script_dir.get_heads()
    if len(heads) != 1:
        raise Refused(f"the revisions have {len(heads)} heads ({', '.join(heads)}): chain them into one first")
    head = heads[0]
    head_file = Path(script_dir.get_revision(head).path).stem
    if head_file == f"{head}_{name}":
        raise Refused(f"revision {head_file} exists: choose another NAME; to write it again (only while it is not "
                      f"committed), delete alembic/versions/{head_file}.py and run this again (a hand-written part "
                      "stays)")  # fmt: skip
    rev = next_revision(migrations.revisions())
    strays = sorted(p.name for p in MIGRATIONS.glob(f"{rev}_*.sql") if not p.name.startswith(f"{rev}_{name}."))
    if strays:
        raise Refused(f"sql/migrations/{strays[0]} belongs to no revision yet: finish it with NAME="
                      f"{strays[0].removeprefix(rev + '_').split('.')[0]}, or move it out of the way")  # fmt: skip
    return head, rev


def refuse_what_is_not_replaceable(base: Snapshot, current: Snapshot, created: dict, stem: str, name: str) -> None:
    """One line per file whose change this command cannot write (tables, indexes, types, rows, ...)."""
    by_file: dict[str, list[str]] = {}
    reported = set()
    for (kind, schema, obj), change in differences(base.entries, current.entries):
        rows = kind in ("TABLE DATA", "SEQUENCE SET")
        if kind in REPLACEABLE or (rows and (schema, obj) in reported):
            continue  # a table whose columns changed has other rows too: one line says it
        reported.add((schema, obj))
        named = obj if schema == "-" else f"{schema}.{obj}"
        what = f"the rows of {named}" if rows else f"{kind.lower()} {named}"
        where = file_of(created, schema, obj) if change != "is gone" else None
        by_file.setdefault(where or "sql/", []).append(f"{what} {change}")
    if by_file:
        raise Refused(*[f"{where}: {', '.join(found)}: not replaceable, write it by hand in sql/migrations/{stem}.sql "
                        f"and {stem}.down.sql, then run `make migration NAME={name}` again (it adds the rest)"
                        for where, found in by_file.items()])  # fmt: skip


def derive(have_url: str, want_url: str, scratch: str, migrator: str, *, going_back: bool = False) -> Script:
    """The statements that turn the database at `have_url` into the one at `want_url`: definitions first (tried on
    `scratch`, a copy of `have_url`), then comments and privileges as they stand once the definitions are in."""
    script = Script(migrator)
    with _connect(have_url) as have, _connect(want_url) as want:
        replace_definitions(have, want, script, going_back=going_back)
    _run(scratch, script.text(), "the generated definitions")
    with _connect(scratch) as have, _connect(want_url) as want:
        before = len(script.statements)
        set_comments(have, want, script)
        set_privileges(have, want, script)
    _run(scratch, Script(migrator, script.statements[before:]).text(), "the generated comments and privileges")
    return script


def generate(name: str, server_url: str | None = None) -> list[str]:
    """Write the revision; returns the lines to print. Raises Refused."""
    head, rev = preconditions(name)
    stem = f"{rev}_{name}"
    hand_up, hand_down = hand_written(stem)
    with workspace(server_url) as space:
        head_url = space.create("at_head")
        with _translated(f"migrating to revision {head}"):
            migrations.upgrade(head_url)
        base_url = space.create("base", template="at_head")
        if hand_up:
            _run(base_url, hand_up, f"sql/migrations/{stem}.sql on revision {head}'s database")
        # Roles belong to the server: what sql/roles.sql changes in the migrations' roles shows once it has run.
        with _connect(base_url) as conn:
            migrated_roles, migrator = roles(conn), conn.execute("SELECT current_user").fetchone()[0]
        current_url = space.create("current")
        created = install_current(current_url)
        with _connect(current_url) as conn:
            if roles(conn) != migrated_roles:
                raise Refused(f"sql/roles.sql: the roles differ from what the migrations create; roles are for a "
                              f"hand-written migration (sql/migrations/{stem}.sql and .down.sql)")  # fmt: skip
        base, current = snapshot(base_url, space.bindir), snapshot(current_url, space.bindir)
        refuse_what_is_not_replaceable(base, current, created, stem, name)

        upgraded = space.create("upgraded", template="base")
        up = derive(base_url, current_url, upgraded, migrator)
        if not up.statements and not hand_up:
            return [f"nothing to migrate: the current files build exactly what revision {head} builds"]
        down = derive(upgraded, base_url, space.create("downgraded", template="upgraded"), migrator, going_back=True)

        written = write(stem, name, head, up, down, hand_up, hand_down)
        migrations.revisions.cache_clear()  # the code's revision chain now has the one just written
        try:
            at_head = snapshot(head_url, space.bindir) if hand_up else base
            verify_url = space.create("verify", template="at_head")
            with _translated(f"upgrading to {rev}"):
                migrations.upgrade(verify_url)
            upgraded_snapshot = snapshot(verify_url, space.bindir)
            found = mismatch(f"after upgrading to {rev}", current, upgraded_snapshot)
            with _translated(f"downgrading to {head}"):
                migrations.downgrade(verify_url, head)
            found += mismatch(f"after downgrading to {head}", at_head, snapshot(verify_url, space.bindir))
            if found:
                raise Refused(*found, "the revision does not reproduce the current files: nothing was written")
            with _translated(f"upgrading to {rev} again"):
                migrations.upgrade(verify_url)
            schema_dump.SCHEMA_FILE.write_text(upgraded_snapshot.schema)
        except BaseException:
            written.undo()
            raise
    lines = [f"wrote {', '.join(written.names)} and sql/schema.sql"]
    lines += [f"  {label}: {', '.join(aspects)}" for label, aspects in up.changes.items()]
    lines.append(f"checked: upgrading {head} -> {rev} gives what the current files give; downgrading gives {head} back")
    if any("dropped" in aspects for aspects in up.changes.values()):
        lines.append("note: the up drops what no current file defines any more: deploy it only once no running "
                     "release calls it (README, \"Changing carepg\", the _vN rule)")  # fmt: skip
    return lines


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """carepg's one-line errors (a failing migration, an unreachable server) as a refusal."""
    try:
        yield
    except CarepgError as exc:
        raise Refused(f"{what}: {exc}") from None


@dataclasses.dataclass
class Written:
    names: list[str]
    previous: dict[Path, str | None]

    def undo(self) -> None:
        for path, text in self.previous.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text)


def write(stem: str, name: str, head: str, up: Script, down: Script, hand_up: str, hand_down: str) -> Written:
    up_path, down_path = MIGRATIONS / f"{stem}.sql", MIGRATIONS / f"{stem}.down.sql"
    revision_path = VERSIONS / f"{stem}.py"
    previous = {p: (p.read_text() if p.exists() else None) for p in (up_path, down_path, revision_path)}
    changed = "\n".join(f"--   {label}: {', '.join(aspects)}" for label, aspects in up.changes.items())
    if hand_up:
        up_text = f"{hand_up.rstrip()}\n\n{HAND_WRITTEN_UP_ENDS}\n\n{up.text()}"
        down_text = f"{down.text()}\n{HAND_WRITTEN_DOWN_STARTS}\n\n{hand_down.lstrip()}"
    else:
        up_text = (f"-- purpose: {name.replace('_', ' ')}; {GENERATED} NAME={name}` from the current files:\n"
                   f"{changed}\n\n{up.text()}")  # fmt: skip
        down_text = (f"-- purpose: undo {stem}, {GENERATED}`: the same objects as revision {head} built "
                     f"them.\n\n{down.text()}")  # fmt: skip
    written = Written([], previous)
    try:
        up_path.write_text(up_text)
        down_path.write_text(down_text)
        with contextlib.redirect_stdout(io.StringIO()):  # Alembic's "Generating ... done"
            command.revision(migrations.config(), message=name.replace("_", " "), rev_id=stem.split("_")[0])
        if not revision_path.exists():
            raise Refused(f"Alembic did not write {revision_path.relative_to(ROOT)} (alembic.ini's file_template?)")
    except BaseException:
        written.undo()
        raise
    written.names = [str(p.relative_to(ROOT)) for p in (up_path, down_path, revision_path)]
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make migration", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", default="", help="the revision's slug, e.g. count_comment")
    parser.add_argument("--server", metavar="URL", help="build on this running server (a superuser's URL, e.g. "
                        "`carepg db url`) instead of a throw-away one: quicker; its own databases are dropped after")
    args = parser.parse_args(argv)
    if not args.name:
        print("error: name the migration: make migration NAME=<slug>", file=sys.stderr)
        return 2
    try:
        lines = generate(args.name, args.server)
    except Refused as refused:
        for line in refused.lines:
            print(f"error: {line}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
