"""OpenAPI extensions so the schema documents API keys and run scope tokens as bearer auth."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "agentstudio.accounts.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`as_...`) created at /api/v1/keys/ or by "
            "`manage.py create_user --api-key`.",
        }
