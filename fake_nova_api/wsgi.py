"""WSGI entry point: ``module = fake_nova_api.wsgi:application`` (uWSGI).

As in nova, the concurrency backend is decided on the very first line, before
oslo.messaging or anything that creates locks or threads is imported.
"""
from fake_service import monkey_patch; monkey_patch.patch()  # noqa: E702,I001

from fake_nova_api import wsgi_app  # noqa: E402

application = wsgi_app.init_application("fake-nova-api")
