"""The layout's rules: the command's name leads to its package, scenarios/
holds data only, the services never import the runner, no import loop, no
module named like the standard library's."""

import ast
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("fake_lab", "fake_service", "fake_compute", "fake_nova_api")


def _modules():
    """{dotted name: path} of every module of the lab's packages."""
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(REPO, package)):
            for f in files:
                if f.endswith(".py"):
                    rel = os.path.relpath(os.path.join(folder, f), REPO)[:-3]
                    name = rel.replace(os.sep, ".").removesuffix(".__init__")
                    found[name] = os.path.join(folder, f)
    return found


def _imports(path, modules):
    """The lab's modules ``path`` imports, at module level or inside a
    function (a deferred import that closes a loop is still a loop)."""
    tree = ast.parse(open(path).read())
    deps = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            deps.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module in modules:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                deps.add(sub if sub in modules else node.module)
    return deps


def test_scenarios_holds_data_only():
    py = [f for f in os.listdir(os.path.join(REPO, "scenarios")) if f.endswith(".py")]
    assert py == []


def test_the_console_script_leads_to_its_package():
    with open(os.path.join(REPO, "setup.cfg")) as f:
        assert "fake-lab = fake_lab.cli:main" in f.read()


def test_no_module_shadows_the_standard_library():
    clash = [name for name in _modules()
             if name.rsplit(".", 1)[-1] in sys.stdlib_module_names]
    assert clash == []


def test_no_import_loop():
    modules = _modules()
    graph = {m: _imports(p, modules) for m, p in modules.items()}
    state = {}

    def visit(m, path):
        state[m] = "open"
        for d in graph[m]:
            if state.get(d) == "open":
                pytest.fail("import loop: " + " -> ".join(path + [d]))
            if d not in state:
                visit(d, path + [d])
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("module", ["fake_service.rpc", "fake_compute.service",
                                    "fake_nova_api.api", "fake_nova_api.wsgi_app"])
def test_the_services_never_import_the_runner(module):
    code = (f"import sys, {module}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'fake_lab'))")
    env = dict(os.environ, OS_NOVA_DISABLE_EVENTLET_PATCHING="true")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
