#!/usr/bin/env bash
# Install everything the lab needs on a Debian/Ubuntu machine, idempotently:
#   - from apt: rabbitmq-server (with Erlang), Apache httpd and its headers
#     (apache2, apache2-dev: mod_wsgi builds against apxs), what the
#     Python side needs to build uWSGI (a compiler, the Python headers, venv),
#     and chromium (the tests open report.html in it, headless);
#   - a venv in .venv, on Debian's own Python (world-readable, which Apache's
#     mod_wsgi daemon, running as www-data, needs), holding the lab, uWSGI,
#     mod_wsgi and the test tools.
# No broker is started here: every run starts a private node of its own.
# Nothing prompts: it is run by CI with no standard input.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${FAKE_LAB_PYTHON:-/usr/bin/python3}
need=()
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
[ -x /usr/sbin/apache2 ] || need+=(apache2)
command -v apxs >/dev/null 2>&1 || need+=(apache2-dev)
# The headless browser the functional tests open report.html in.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -x "$PY" ] || need+=(python3)
"$PY" -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
[ -e "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)/Python.h" ] \
    || need+=(python3-dev)

if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing from apt: ${need[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $PY"
    "$PY" -m venv .venv
fi
stamp=.venv/.fake-lab-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing the lab, uWSGI, mod_wsgi and the test tools into .venv (first time: about a minute)"
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e '.[uwsgi,mod_wsgi,test]'
    touch "$stamp"
fi
echo "setup: ready: .venv/bin/fake-lab"
