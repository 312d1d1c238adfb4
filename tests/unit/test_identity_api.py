"""The lab's minimal Keystone v3 (fake_nova_api/identity_api.py): what
keystoneauth's password plugin and openstacksdk's identity proxy ask."""

import json

import pytest
import webob

from fake_nova_api import identity_api


def _req(method, path, body=None, headers=None):
    req = webob.Request.blank(path, method=method, headers=headers or {},
                              base_url="http://127.0.0.1:8774/identity")
    if body is not None:
        req.body = json.dumps(body).encode()
        req.content_type = "application/json"
    resp = req.get_response(identity_api.IdentityAPI())
    return resp.status_int, (json.loads(resp.body) if resp.body else None), resp


def _auth(password="secret", user="fake-lab", project="fake-lab"):
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
    return {"auth": auth}


@pytest.fixture(autouse=True)
def password(monkeypatch):
    monkeypatch.setattr(identity_api, "_configured_password", lambda: "secret")


def test_versions_as_keystoneauth_discovers_them():
    status, body, _ = _req("GET", "/")
    assert status == 300
    version = body["versions"]["values"][0]
    assert version["id"].startswith("v3.")
    assert version["links"][0]["href"] == "http://127.0.0.1:8774/identity/v3/"
    assert _req("GET", "/v3")[1]["version"]["status"] == "stable"


def test_a_scoped_token_names_the_project_and_the_labs_endpoints():
    status, body, resp = _req("POST", "/v3/auth/tokens", _auth())
    assert status == 201 and resp.headers["X-Subject-Token"].startswith("fake-lab-")
    token = body["token"]
    assert token["project"]["id"] == "fake-lab" and token["user"]["id"] == "fake-lab"
    assert token["expires_at"] > token["issued_at"]
    urls = {(c["type"], e["interface"]): e["url"] for c in token["catalog"]
            for e in c["endpoints"]}
    assert urls[("compute", "public")] == "http://127.0.0.1:8774/v2.1"
    assert urls[("image", "internal")] == "http://127.0.0.1:8774/image"
    assert urls[("identity", "admin")] == "http://127.0.0.1:8774/identity"
    # validated as it was issued (nothing in the lab checks tokens)
    status, body, resp = _req("GET", "/v3/auth/tokens",
                              headers={"X-Subject-Token": "fake-lab-x"})
    assert status == 200 and body["token"]["project"]["name"] == "fake-lab"
    assert _req("HEAD", "/v3/auth/tokens", headers={"X-Subject-Token": "x"})[0] == 200
    # unscoped: no project, no catalog
    token = _req("POST", "/v3/auth/tokens", _auth(project=None))[1]["token"]
    assert "project" not in token and "catalog" not in token


@pytest.mark.parametrize("body, status", [
    (_auth(password="wrong"), 401),
    (_auth(user="admin"), 401),
    (_auth(project="demo"), 401),
    ({"auth": {"identity": {"methods": ["token"], "token": {"id": "x"}}}}, 401),
    ({"nope": 1}, 400),
])
def test_what_keystone_refuses_is_refused(body, status):
    got, answer, _ = _req("POST", "/v3/auth/tokens", body)
    assert got == status and answer["error"]["code"] == status


def test_any_password_when_none_is_configured(monkeypatch):
    monkeypatch.setattr(identity_api, "_configured_password", lambda: None)
    assert _req("POST", "/v3/auth/tokens", _auth(password="anything"))[0] == 201


def test_the_one_project():
    assert [p["id"] for p in _req("GET", "/v3/projects?name=fake-lab")[1][
        "projects"]] == ["fake-lab"]
    assert _req("GET", "/v3/projects?name=demo")[1]["projects"] == []
    assert _req("GET", "/v3/projects/fake-lab")[1]["project"]["domain_id"] == "default"
    assert _req("GET", "/v3/projects/demo")[0] == 404
    assert _req("GET", "/v3/users")[0] == 404
