"""Trigram indexes (pg_trgm) for the admin's searches, on PostgreSQL only.

On PostgreSQL Django asks `icontains` as `UPPER("column"::text) LIKE UPPER('%martin%')`: a
GIN index on that same expression with `gin_trgm_ops` serves it, where a B-tree cannot (the
pattern starts with `%`). SQLite (`make run`) has no such index: the operation does nothing
there. The indexes live in migrations only, not in the models' Meta, since a GinIndex in the
model state would be created on SQLite too; `makemigrations` never sees them.

`IndexedSearchMixin` asks the admin's search so that those indexes serve it: Django's own
search ORs columns of several joined tables, which no index can answer (PostgreSQL then reads
every row of the join); here each table is searched on its own, in a subquery.
"""

from django.db import migrations
from django.db.models import Q
from django.utils.text import smart_split, unescape_string_literal


def _columns(apps, columns: tuple[tuple[str, str, str], ...]):
    """(index name, table, column) of each (app label, model name, field name)."""
    for app_label, model_name, field_name in columns:
        meta = apps.get_model(app_label, model_name)._meta
        column = meta.get_field(field_name).column
        yield f"{meta.db_table}_{column}_trgm"[:63], meta.db_table, column


def trigram_indexes(*columns: tuple[str, str, str]) -> migrations.RunPython:
    """A RunPython that indexes each (app label, model name, field name) for `icontains`.

    Put it after `django.contrib.postgres.operations.TrigramExtension()` (pg_trgm is a
    trusted extension since PostgreSQL 13: the database's owner may create it).
    """

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        for name, table, column in _columns(apps, columns):
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} "
                f"USING gin ((UPPER({quote(column)}::text)) gin_trgm_ops)"
            )

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for name, _table, _column in _columns(apps, columns):
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")

    return migrations.RunPython(forwards, backwards)


class IndexedSearchMixin:
    """Put before admin.ModelAdmin whose `search_fields` are text columns, of its own, through
    foreign keys (`member__full_name`) or of one reverse relation (`mailboxes__local_part`):
    a term matches when one column does, as in Django's search, but each table is asked on
    its own (`member_id IN (SELECT id FROM member WHERE ...)`), which its index serves, and
    without Django's DISTINCT over a reverse join."""

    def get_search_results(self, request, queryset, search_term):
        groups = self._search_groups(request)
        if groups is None or not search_term:
            return super().get_search_results(request, queryset, search_term)
        for term in smart_split(search_term):
            if term.startswith(('"', "'")) and term[0] == term[-1]:
                term = unescape_string_literal(term)
            queryset = queryset.filter(_any_column(groups, term))
        return queryset, False

    def _search_groups(self, request) -> dict[str, tuple] | None:
        """{path: (the model searched, its columns, the reverse relation's column or None)};
        None for a field of another kind (Django's own search then)."""
        groups: dict[str, tuple] = {}
        for name in self.get_search_fields(request):
            *path, column = str(name).split("__")
            model, reverse = self.model, None
            for step in path:
                field = model._meta.get_field(step)
                if field.one_to_many and len(path) == 1:
                    reverse = field.field.attname  # `mailboxes` of a member: `member_id`
                elif not (field.many_to_one or field.one_to_one) or field.auto_created:
                    return None
                model = field.related_model
            if model._meta.get_field(column).get_internal_type() not in TEXT_FIELDS:
                return None
            groups.setdefault("__".join(path), (model, [], reverse))[1].append(column)
        return groups


TEXT_FIELDS = {"CharField", "TextField"}  # EmailField and PhoneNumberField say CharField


def _any_column(groups: dict[str, tuple], term: str) -> Q:
    condition = Q()
    for path, (model, columns, reverse) in groups.items():
        matches = Q.create([(f"{c}__icontains", term) for c in columns], connector=Q.OR)
        found = model._default_manager.filter(matches)
        if not path:
            condition |= matches
        elif reverse:
            condition |= Q(pk__in=found.values(reverse))
        else:
            condition |= Q(**{f"{path}__in": found})
    return condition
