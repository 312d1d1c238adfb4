#!/usr/bin/env bash
# Install everything the lab needs on a Debian/Ubuntu machine, idempotently:
#   - from apt: rabbitmq-server (with Erlang), Apache httpd and its headers
#     (apache2, apache2-dev: mod_wsgi builds against apxs), what the
#     Python side needs to build uWSGI (a compiler, the Python headers, venv),
#     and chromium (the tests open report.html in it, headless), and
#     PostgreSQL (the db-failover scenario's private pair: the binaries only;
#     a cluster the package may create and start is stopped again), and
#     HAProxy (the api-failover scenarios' VIP: the binary only; a system
#     haproxy the package may start is stopped again);
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
# PostgreSQL's server binaries (/usr/lib/postgresql/<version>/bin): every
# db-failover run starts a private primary and replica of its own from them.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
{ [ -n "$pg_bin" ] && [ -x "$pg_bin/pg_basebackup" ]; } || need+=(postgresql)
pg_common=0
dpkg -s postgresql-common >/dev/null 2>&1 && pg_common=1
# HAProxy (/usr/sbin/haproxy): every api-failover run starts a private one.
[ -x /usr/sbin/haproxy ] || need+=(haproxy)
haproxy_pkg=0
dpkg -s haproxy >/dev/null 2>&1 && haproxy_pkg=1
[ -x "$PY" ] || need+=(python3)
"$PY" -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
[ -e "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)/Python.h" ] \
    || need+=(python3-dev)

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing from apt: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's postgresql package creates a 'main' cluster and starts it where
# services may start (here policy-rc.d forbids it). The lab never uses it:
# stop any cluster this installation started, and leave older ones alone.
if [ "$pg_common" -eq 0 ] && command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h 2>/dev/null | while read -r version cluster _ status _; do
        case "$status" in
            online*)
                echo "setup: stopping PostgreSQL cluster $version/$cluster, started by its package (the lab runs its own)"
                $sudo pg_ctlcluster "$version" "$cluster" stop || true ;;
        esac
    done
fi
# Debian's haproxy package enables and starts a system haproxy (with its
# /etc/haproxy/haproxy.cfg) where services may start. The lab never uses it:
# stop the one this installation started, and leave one that ran before alone.
if [ "$haproxy_pkg" -eq 0 ] && [ -x /etc/init.d/haproxy ] \
        && /etc/init.d/haproxy status >/dev/null 2>&1; then
    echo "setup: stopping the system haproxy, started by its package (the lab runs its own)"
    $sudo /etc/init.d/haproxy stop >/dev/null || true
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $PY"
    "$PY" -m venv .venv
fi
stamp=.venv/.fake-lab-installed
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing the lab, uWSGI, mod_wsgi, psycopg2 and the test tools into .venv (first time: about a minute)"
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e '.[uwsgi,mod_wsgi,postgres,test]'
    touch "$stamp"
fi
echo "setup: ready: .venv/bin/fake-lab"
