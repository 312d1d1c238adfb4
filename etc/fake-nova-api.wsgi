# The fake nova-api for mod_wsgi (WSGIScriptAlias), as nova-api-wsgi is:
# the entry point patches (or not) on its first line, then builds the app.
from fake_nova_api.wsgi import application  # noqa: F401
