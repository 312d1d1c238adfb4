"""``init_application``: what every WSGI container calls, as in nova.

Config files come from the environment (FAKE_LAB_CONFIG_FILES, a comma
separated list, else every ``*.conf`` in FAKE_LAB_CONFIG_DIR, else
etc/fake-lab.conf if present), global setup runs once per process, then
paste.deploy builds the app from api-paste.ini; with ``[api] call_on_load``
the app then makes one RPC call before it is handed to the container.
"""

import os
import threading
import time

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_log import log as logging
from paste import deploy

from fake_service import conf as lab_conf
from fake_service import logs, monkey_patch, rpc

LOG = logging.getLogger(__name__)

CONFIG_FILES_ENV = "FAKE_LAB_CONFIG_FILES"
CONFIG_DIR_ENV = "FAKE_LAB_CONFIG_DIR"
ETC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   "etc")

_setup_lock = threading.Lock()
_setup_done = False


def _config_files():
    files = os.environ.get(CONFIG_FILES_ENV)
    if files:
        return [f for f in files.split(",") if f]
    conf_dir = os.environ.get(CONFIG_DIR_ENV)
    if conf_dir:
        return sorted(os.path.join(conf_dir, f) for f in os.listdir(conf_dir)
                      if f.endswith(".conf"))
    default = os.path.join(ETC, "fake-lab.conf")
    return [default] if os.path.exists(default) else []


def _setup_once(conf, name, config_files):
    global _setup_done
    with _setup_lock:
        if _setup_done:
            return
        logs.register_options(conf)
        conf([], project="fake-lab", prog=name,
             default_config_files=config_files)
        logs.setup(conf, name)
        LOG.info("%s starting: pid=%d eventlet_patched=%s config_files=%s",
                 name, os.getpid(), monkey_patch.is_patched(), config_files)
        LOG.info(monkey_patch.startup_line(name))
        # Like nova's config.parse_args: the transport exists from start-up,
        # its connections are opened by the first RPC (see compute_rpcapi).
        rpc.init(conf, name, observe_pool=conf.lab.observe_pool)
        _setup_done = True


def _paste_file(conf, config_files):
    path = conf.api.paste_config
    if os.path.isabs(path):
        return path
    for base in [os.path.dirname(os.path.abspath(f)) for f in config_files] + [ETC]:
        candidate = os.path.join(base, path)
        if os.path.exists(candidate):
            return candidate
    return os.path.join(ETC, path)


def init_application(name):
    """Set the process up once and return the paste.deploy app ``name``."""
    conf = cfg.CONF
    lab_conf.register(conf)
    config_files = _config_files()
    _setup_once(conf, name, config_files)
    app = deploy.loadapp("config:" + _paste_file(conf, config_files), name=name)
    if conf.api.call_on_load:
        _call_on_load(conf)
    return app


def _call_on_load(conf, wait=60):
    """One RPC call while the app loads (``[api] call_on_load``): it opens
    the process's RPC connections now, in whichever process loads the app
    (under uWSGI without lazy-apps, the master, before it forks). The lab
    starts the compute beside the API, so a call sent before the compute
    listens is lost: it is sent again, for up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    rpc.wait_for_broker(conf, wait)
    target = messaging.Target(topic=conf.api.compute_topic, version="1.0")
    client = rpc.get_client(target, timeout=1)
    while True:
        try:
            reply = client.call({"request_id": "-"}, "ping",
                                payload="call-on-load")
            break
        except messaging.MessagingTimeout:
            if time.monotonic() > deadline:
                raise
    LOG.info("call on load: pid=%d answered: %s", os.getpid(), reply)
