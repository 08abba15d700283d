"""The Salesloft-compatible facade (seed 001): /v2/actions and the resources its
`_href` links name. Modules: views (actions), resources (the linked records),
serializers (record shapes), filters (query parameters), ratelimit."""
