"""Page-number pagination rendering `{count, next, previous, results}` on every collection."""

from typing import Any

from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from agentstudio.errors import AppError, ErrorCode


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        """`page` a whole number (past the end is 404, as DRF answers); anything else 400."""
        raw = request.query_params.get(self.page_query_param)
        if raw is None or raw in self.last_page_strings:
            return super().get_page_number(request, paginator)
        if not raw.isdigit():
            message = "page must be a whole number."
            details = [{"path": "/page", "message": message}]
            raise AppError(ErrorCode.VALIDATION_ERROR, message, details=details)
        return raw

    def get_page_size(self, request: Request) -> int:
        """`page_size` from 1 to max_page_size; anything else is 400, not silently 50."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            message = f"page_size must be a whole number from 1 to {self.max_page_size}."
            details = [{"path": "/page_size", "message": message}]
            raise AppError(ErrorCode.VALIDATION_ERROR, message, details=details)
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
