"""A minimal Keystone v3 under ``/identity``, so that clients can use
password authentication: the version documents, ``POST /v3/auth/tokens``
(password, scoped to the one project), ``GET``/``HEAD /v3/auth/tokens`` and
``GET /v3/projects[/<id>]``.

What it is for: under auth type ``none`` a client has no token and so no
project, and some commands need one (``openstack quota show`` with no
project reads it from the token). A token from here names the lab's one
project (``fake-lab``, every server's ``tenant_id``) and carries a service
catalog of the lab's endpoints (compute, image, identity), built from the
address the client used.

What it is not: no API of the lab checks a token (the compute API takes any,
or none). The password is checked when ``[identity] password`` is set
(``fake-lab up`` sets a random one and writes it to its mode-0600
clouds.yaml); unset, any password is taken. No RPC: a token costs the
worker no broker traffic, so it changes nothing the scenarios observe.
"""

import datetime
import json
import secrets

import webob
import webob.dec
from oslo_config import cfg

from fake_nova_api.api import _json

DOMAIN = {"id": "default", "name": "Default"}
USER = {"id": "fake-lab", "name": "fake-lab", "domain": DOMAIN}
PROJECT = {"id": "fake-lab", "name": "fake-lab", "domain": DOMAIN}
ROLES = [{"id": "admin", "name": "admin"}, {"id": "member", "name": "member"}]
VERSION = {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
           "media-types": [{"base": "application/json",
                            "type": "application/vnd.openstack.identity-v3+json"}]}
TOKEN_LIFETIME = datetime.timedelta(hours=12)


def _error(status, title, message):
    """Keystone's error body."""
    return _json(status, {"error": {"code": status, "title": title,
                                    "message": message}})


def _stamp(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _configured_password():
    try:
        return cfg.CONF.identity.password
    except cfg.Error:  # no configuration loaded (unit tests)
        return None


class IdentityAPI:
    """The ``/identity`` app (paste: ``[pipeline:identity_api]``)."""

    @classmethod
    def factory(cls, global_conf, **local_conf):
        return cls()

    @webob.dec.wsgify
    def __call__(self, req):
        path = req.path_info.rstrip("/") or "/"
        if path == "/" and req.method == "GET":
            return _json(300, {"versions": {"values": [self._version(req)]}})
        if path == "/v3" and req.method == "GET":
            return _json(200, {"version": self._version(req)})
        if path == "/v3/auth/tokens":
            if req.method == "POST":
                return self._issue(req)
            if req.method in ("GET", "HEAD"):
                return self._validate(req)
            return _error(405, "Method Not Allowed", f"{req.method} is not allowed")
        if path == "/v3/projects" and req.method == "GET":
            name = req.params.get("name")
            found = [] if name not in (None, PROJECT["name"]) else [self._project(req)]
            return _json(200, {"projects": found, "links": {
                "self": req.url, "previous": None, "next": None}})
        if path.startswith("/v3/projects/") and req.method == "GET":
            project_id = path.split("/", 3)[3]
            if project_id not in (PROJECT["id"], PROJECT["name"]):
                return _error(404, "Not Found",
                              f"Could not find project: {project_id}.")
            return _json(200, {"project": self._project(req)})
        return _error(404, "Not Found", f"{req.method} {path} is not a resource "
                                        "of the lab's identity service")

    @staticmethod
    def _version(req):
        return dict(VERSION, links=[{"rel": "self",
                                     "href": req.application_url + "/v3/"}])

    @staticmethod
    def _project(req):
        return dict(PROJECT, domain_id=DOMAIN["id"], parent_id=DOMAIN["id"],
                    enabled=True, is_domain=False, description="the fake lab's "
                    "only project", tags=[], options={}, links={
                        "self": f"{req.application_url}/v3/projects/{PROJECT['id']}"})

    def _issue(self, req):
        try:
            auth = json.loads(req.body or b"{}")["auth"]
            methods = auth["identity"]["methods"]
        except (ValueError, KeyError, TypeError):
            return _error(400, "Bad Request", "Expecting to find auth.identity "
                                              "in the request body")
        if methods != ["password"]:
            return _error(401, "Unauthorized", "Only the password method is "
                                               "supported here")
        user = (auth["identity"].get("password") or {}).get("user") or {}
        if user.get("name", user.get("id")) not in (USER["name"], USER["id"]):
            return _error(401, "Unauthorized", "The request you have made requires "
                                               "authentication.")
        wanted = _configured_password()
        if wanted is not None and not secrets.compare_digest(
                str(user.get("password", "")), wanted):
            return _error(401, "Unauthorized", "The request you have made requires "
                                               "authentication.")
        scope = (auth.get("scope") or {}).get("project")
        if scope is not None and scope.get("name", scope.get("id")) not in (
                PROJECT["name"], PROJECT["id"]):
            return _error(401, "Unauthorized", "The user has no role on project "
                                               f"{scope.get('name', scope.get('id'))}")
        token = "fake-lab-" + secrets.token_hex(16)
        resp = _json(201, {"token": self._token(req, scoped=scope is not None)})
        resp.headers["X-Subject-Token"] = token
        return resp

    def _validate(self, req):
        if not req.headers.get("X-Subject-Token"):
            return _error(404, "Not Found", "Could not find token.")
        resp = (webob.Response(status=200) if req.method == "HEAD"
                else _json(200, {"token": self._token(req, scoped=True)}))
        resp.headers["X-Subject-Token"] = req.headers["X-Subject-Token"]
        return resp

    def _token(self, req, scoped):
        now = datetime.datetime.now(datetime.timezone.utc)
        body = {"methods": ["password"], "user": dict(USER, password_expires_at=None),
                "audit_ids": [secrets.token_urlsafe(16)],
                "issued_at": _stamp(now), "expires_at": _stamp(now + TOKEN_LIFETIME)}
        if scoped:
            body.update(project=PROJECT, is_domain=False, roles=ROLES,
                        catalog=self._catalog(req))
        return body

    @staticmethod
    def _catalog(req):
        """The lab's endpoints at the address the client used (every
        interface the same URL, as devstack registers them)."""
        base = req.host_url
        entries = [("compute", "nova", base + "/v2.1"),
                   ("image", "glance", base + "/image"),
                   ("identity", "keystone", base + "/identity")]
        return [{"type": kind, "name": name, "id": name, "endpoints": [
            {"id": f"{name}-{interface}", "interface": interface,
             "region": "RegionOne", "region_id": "RegionOne", "url": url}
            for interface in ("public", "internal", "admin")]}
            for kind, name, url in entries]
