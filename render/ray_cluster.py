"""The Ray cluster a render farm runs on: a fresh one on this machine, or a running one joined in bounded time.

- `--ray` alone (or `--ray local`) starts a fresh cluster on this machine, on 127.0.0.1 only, and stops it
  when the render ends. It never joins a cluster named in Ray's temp folder (`/tmp/ray/ray_current_cluster`,
  left behind by an old `ray start`, may name one that is gone: joining it would retry without end).
- `--ray auto` joins this machine's running cluster as Ray finds it (`RAY_ADDRESS`, then the last
  `ray start`); `--ray HOST:PORT` joins that one. Before Ray is asked to join, the cluster's GCS port must
  accept a connection and answer as a gRPC server (an HTTP/2 SETTINGS frame) within `timeout` seconds
  (`--ray-timeout`, default 30): a closed port, a silent host or something else listening is one line,
  not an endless retry. The driver disconnects when the render ends; the cluster runs on.
- A Ray already started in this process (a caller of the Python API did `ray.init`) is used as it is.
"""
import contextlib
import os
import socket
import time
from pathlib import Path

from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.progress import quiet

LOOPBACK = '127.0.0.1'
JOIN_TIMEOUT = 30.0  # seconds to reach a running cluster before giving up (--ray-timeout)
# An HTTP/2 client's first bytes (the connection preface and an empty SETTINGS frame); a gRPC server answers
# with a SETTINGS frame of its own.
_HTTP2_PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_SETTINGS = 4
_CLUSTERS_ENV = 'RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER'


def ray_module():
    "The ray module, or one line saying how to install it."
    try:
        import ray
    except ImportError:
        raise DeoldifyLikeError('--ray needs Ray: pip install -e ".[ray]"') from None
    return ray


def _gcs_address(address):
    "HOST:PORT of the cluster `address` names, as ray.init resolves it ('auto': RAY_ADDRESS, then the last `ray start`)."
    from ray._private.services import canonicalize_bootstrap_address_or_die
    try:
        return canonicalize_bootstrap_address_or_die(address)
    except (ConnectionError, ValueError) as e:
        raise DeoldifyLikeError(f"--ray {address}: {str(e).splitlines()[0]}") from None


def check_answers(address, timeout=JOIN_TIMEOUT):
    """Raise one line unless the GCS of the cluster `address` names accepts a connection and answers as a
    gRPC server within `timeout` seconds. Returns its HOST:PORT."""
    gcs = _gcs_address(address)
    host, _, port = gcs.rpartition(':')
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host.strip('[]'), int(port)), timeout=timeout) as s:
            if os.environ.get('RAY_USE_TLS', '0') not in ('1', 'true'):  # a TLS server does not speak plain HTTP/2
                s.settimeout(max(deadline - time.monotonic(), 0.01))
                s.sendall(_HTTP2_PREFACE)
                head = s.recv(9)
                if len(head) < 9 or head[3] != _SETTINGS:
                    raise DeoldifyLikeError(f"--ray {address}: what listens at {gcs} is not a Ray cluster")
    except TimeoutError:
        raise DeoldifyLikeError(f"--ray {address}: no Ray cluster answered at {gcs} within {timeout:g} s") from None
    except OSError as e:
        raise DeoldifyLikeError(f"--ray {address}: no Ray cluster at {gcs} ({e.strerror or e})") from None
    return gcs


@contextlib.contextmanager
def _loopback_only(on=True):
    """While a local cluster starts: its node address is 127.0.0.1, not the machine's network address.

    Ray turns a loopback `_node_ip_address` (and `ray start --node-ip-address 127.0.0.1`) into the machine's
    address unless clusters are switched off (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, read once by ray_constants
    in every Ray process: set in the environment the cluster's processes inherit, and in this process's copy)."""
    if not on:
        yield
        return
    from ray._private import ray_constants
    before_env, before = os.environ.get(_CLUSTERS_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_CLUSTERS_ENV], ray_constants.ENABLE_RAY_CLUSTER = '0', False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = before
        if before_env is None:
            os.environ.pop(_CLUSTERS_ENV, None)
        else:
            os.environ[_CLUSTERS_ENV] = before_env


def connect(address=None, timeout=JOIN_TIMEOUT, **init_kwargs):
    """Start a fresh cluster on 127.0.0.1 (`address` None or 'local') or join the one `address` names
    ('auto', HOST:PORT), reaching it within `timeout` seconds. Returns the ray module."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    kwargs = {'include_dashboard': False, 'log_to_driver': not quiet(), **init_kwargs}
    local = address in (None, 'local')
    if local:
        kwargs.update(address='local', dashboard_host=LOOPBACK)
    else:
        check_answers(address, timeout)
        kwargs['address'] = address
    # local workers import this package from where the driver does
    path = [str(Path(__file__).resolve().parents[1])] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    kwargs.setdefault('runtime_env', {'env_vars': {'PYTHONPATH': os.pathsep.join(path), 'DEOLDIFY_LIKE_QUIET': '1'}})
    try:
        with _loopback_only(local):
            ray.init(**kwargs)
    except Exception as e:  # noqa: BLE001 - Ray raises plain Exception, ConnectionError, RuntimeError...
        with contextlib.suppress(Exception):
            ray.shutdown()
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DeoldifyLikeError(f"--ray {address or 'local'}: could not start or join a Ray cluster ({first})") from None
    return ray


@contextlib.contextmanager
def cluster(address=None, timeout=JOIN_TIMEOUT, **init_kwargs):
    """`connect` for the length of a `with` block: a cluster it started is stopped at the end, a joined one is
    left (only this driver disconnects); a Ray the caller had started is left as it was."""
    ray = ray_module()
    if ray.is_initialized():
        yield ray
        return
    connect(address, timeout, **init_kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()
