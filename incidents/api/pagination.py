"""API pagination.

``Pagination`` (page numbers) serves the small lists. The incident list, which
grows for years, pages by keyset (``IncidentPagination``): ``next`` carries an
opaque ``cursor`` (the last row's ``detected_at`` and ``id``, the list's
order), so every page is one index range scan however deep it is, and no page
counts the whole table. ``count`` is given on the first page (counted inside
that page's own statement), exact up to ``COUNT_CAP`` and otherwise
``COUNT_CAP`` with ``count_is_exact: false``; pages reached by ``cursor`` answer
``count: null``. ``?page=N`` still works as before for existing clients (offset
paging with an exact count: it costs what it always cost).
"""

import base64
from datetime import datetime

from django.db.models import IntegerField, Q
from django.db.models.expressions import RawSQL
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


COUNT_CAP = 1000


def capped_count(queryset) -> RawSQL:
    """How many rows ``queryset`` has, counting at most COUNT_CAP + 1 of them, as an expression.

    Annotated on the first page's rows, it is one more scan of at most COUNT_CAP + 1 index
    entries inside the page's own statement (PostgreSQL runs it once), not a statement of its own.
    """
    counted = queryset.order_by().values("pk")[: COUNT_CAP + 1]
    sql, params = counted.query.get_compiler(using=counted.db).as_sql()
    count_sql = f"SELECT count(*) FROM ({sql}) counted"  # noqa: S608 (the ORM's own SQL, its values as parameters)
    return RawSQL(count_sql, params, output_field=IntegerField())  # noqa: S611


def cursor_encode(detected_at: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{detected_at.isoformat()}|{pk}".encode()).decode().rstrip("=")


def cursor_decode(raw: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        stamp, pk = text.split("|")
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None:
            raise ValueError
        return moment, int(pk)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError({"cursor": ["Not a cursor from a previous page's next link."]}) from exc


def _value(row, name: str):
    return row[name] if isinstance(row, dict) else getattr(row, name)


class IncidentPagination(Pagination):
    """Keyset pages in the list's order (``-detected_at``, ``-id``); ``?page=`` falls back to numbered pages.

    Pages rows read with ``values()`` (dicts with ``detected_at`` and ``id``, as the API's list
    reads them on PostgreSQL) or model instances (SQLite); the first page's rows also carry
    ``list_count``.
    """

    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.count, self.count_is_exact = None, None
        self.keyset = "page" not in request.query_params
        if not self.keyset:
            # The page's ids by offset, then its rows: the rows' subqueries run for one page,
            # not for every row the offset skips (nor for every row counted).
            ids = [row["pk"] for row in super().paginate_queryset(queryset.values("pk"), request, view)]
            return list(queryset.filter(pk__in=ids).order_by("-detected_at", "-id"))
        size = self.get_page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        if raw:
            detected_at, pk = cursor_decode(raw)
            # "detected_at <= X" on its own is what lets the index scan start at the cursor
            # (the OR alone is a filter: it read every row before the cursor).
            queryset = queryset.filter(
                Q(detected_at__lte=detected_at), Q(detected_at__lt=detected_at) | Q(detected_at=detected_at, pk__lt=pk)
            )
        else:
            queryset = queryset.annotate(list_count=capped_count(queryset))
        rows = list(queryset.order_by("-detected_at", "-id")[: size + 1])
        if not raw:
            found = _value(rows[0], "list_count") if rows else 0
            self.count, self.count_is_exact = (found, True) if found <= COUNT_CAP else (COUNT_CAP, False)
        self.has_next = len(rows) > size
        self.rows = rows[:size]
        return self.rows

    def get_paginated_response(self, data):
        if not self.keyset:
            return Response(
                {
                    "count": self.page.paginator.count,
                    "count_is_exact": True,
                    "next": self.get_next_link(),
                    "previous": self.get_previous_link(),
                    "results": data,
                }
            )
        url = remove_query_param(self.request.build_absolute_uri(), "page")
        next_link = None
        if self.has_next:
            last = self.rows[-1]
            next_link = replace_query_param(
                url, self.cursor_query_param, cursor_encode(_value(last, "detected_at"), _value(last, "id"))
            )
        return Response(
            {
                "count": self.count,
                "count_is_exact": self.count_is_exact,
                "next": next_link,
                "previous": None,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "nullable": True,
                    "description": f"On the first page: exact up to {COUNT_CAP}, else {COUNT_CAP}. "
                    "Null on pages reached by cursor.",
                },
                "count_is_exact": {"type": "boolean", "nullable": True},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from the previous page's next link.",
                "schema": {"type": "string"},
            },
            {
                "name": "page_size",
                "required": False,
                "in": "query",
                "description": f"Rows per page (at most {self.max_page_size}).",
                "schema": {"type": "integer"},
            },
            {
                "name": "page",
                "required": False,
                "in": "query",
                "description": "Numbered page (offset paging, kept for existing clients; prefer cursor).",
                "schema": {"type": "integer"},
            },
        ]
