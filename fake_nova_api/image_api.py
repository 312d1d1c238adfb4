"""A minimal image service (Glance v2), so that clients resolve
``--image NAME``: the version document, ``GET /v2/images`` (with the
``name`` and ``id`` filters) and ``GET /v2/images/<id>``, from the fake
cloud's database through the conductor."""

import webob.dec

from fake_compute import rpcapi
from fake_nova_api.api import _json
from fake_service import context


def _view(image):
    return {"id": image["id"], "name": image["name"], "status": image["status"],
            "visibility": "public", "protected": False, "os_hidden": False,
            "disk_format": "qcow2", "container_format": "bare",
            "size": 16338944, "virtual_size": None, "checksum": None,
            "min_disk": 0, "min_ram": 0, "owner": "fake-lab", "tags": [],
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "self": f"/v2/images/{image['id']}", "file": f"/v2/images/{image['id']}/file",
            "schema": "/v2/schemas/image"}


class ImageAPI:
    def __init__(self):
        self.conductor = rpcapi.ConductorAPI()

    @classmethod
    def factory(cls, global_conf, **local_conf):
        return cls()

    @webob.dec.wsgify
    def __call__(self, req):
        path = req.path_info.rstrip("/") or "/"
        ctxt = context.rpc_context()
        if req.method != "GET":
            return _json(405, {"message": f"{req.method} is not allowed here"})
        if path in ("/", "/versions"):
            return _json(300 if path == "/" else 200, {"versions": [{
                "id": "v2.9", "status": "CURRENT",
                "links": [{"rel": "self", "href": req.application_url + "/v2/"}]}]})
        if path == "/v2/images":
            images = self.conductor.image_list(ctxt)
            for key in ("name", "id"):
                wanted = req.params.get(key)
                if wanted:  # glance's "in:a,b" operator, or one value
                    values = (wanted[3:].split(",") if wanted.startswith("in:")
                              else [wanted])
                    images = [i for i in images if i[key] in values]
            return _json(200, {"images": [_view(i) for i in images],
                               "first": "/v2/images", "schema": "/v2/schemas/images"})
        if path.startswith("/v2/images/"):
            image_id = path.split("/", 3)[3]
            found = [i for i in self.conductor.image_list(ctxt) if i["id"] == image_id]
            if not found:
                return _json(404, {"message": f"No image found with ID {image_id}",
                                   "code": "404 Not Found", "title": "Not Found"})
            return _json(200, _view(found[0]))
        return _json(404, {"message": f"{path} is not a resource of the image service"})
