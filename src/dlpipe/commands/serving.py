"""``dlpipe serve-local``, ``serving-ready``, ``serving-demo`` and ``serving-test`` (the helm test).

``dlpipe predict`` is in :mod:`dlpipe.commands.predict`.
"""

from __future__ import annotations

import argparse
import errno
import socket
import threading
from pathlib import Path
from typing import Any

from dlpipe.commands.flags import add_common
from dlpipe.errors import EXIT_OK, ConfigError, DlpipeError
from dlpipe.layout import Layout


def register(sub: Any) -> None:
    local = sub.add_parser("serve-local", help="TF Serving's REST and gRPC APIs over models/ (no cluster needed)")
    served = local.add_mutually_exclusive_group(required=True)
    served.add_argument("--model-name", metavar="NAME", help="serve models/NAME/<version>/")
    served.add_argument("--model-config-file", type=Path, metavar="FILE",
                        help="a ModelServerConfig text proto, as the serving chart renders it")  # fmt: skip
    local.add_argument("--model-version-policy", metavar="POLICY",
                       help="latest[:N], all or specific:V[,V...] (default: TF Serving's, latest:1)")  # fmt: skip
    local.add_argument("--version-label", action="append", default=[], metavar="LABEL=VERSION",
                       help="a version label (repeatable)")  # fmt: skip
    local.add_argument("--allow-version-labels-for-unavailable-models", action="store_true",
                       help="let labels name versions not loaded yet (else TF Serving refuses them)")  # fmt: skip
    local.add_argument("--port", type=int, default=8501, help="REST port, as TF Serving's")
    local.add_argument("--grpc-port", type=int, metavar="PORT", help="also answer gRPC on this port")
    local.add_argument("--poll", type=float, default=2.0, metavar="SECONDS", help="how often to look for new versions")
    local.add_argument("--max-num-load-retries", type=int, metavar="N",
                       help="retries of a version that failed to load (default: as TF Serving)")  # fmt: skip
    local.add_argument("--load-retry-interval", type=float, metavar="SECONDS",
                       help="the wait between those tries (default: as TF Serving)")  # fmt: skip
    local.add_argument("--grpc-max-message-bytes", type=int, metavar="BYTES",
                       help="the largest gRPC request or answer (default: as TF Serving)")  # fmt: skip
    add_common(local)
    local.set_defaults(handler=serve_local_command, tensorflow=True, preflight=_serve_local_ports)

    ready = sub.add_parser(
        "serving-ready", help="readiness sidecar: /ready is 200 when the wanted versions are AVAILABLE"
    )
    ready.add_argument("--tf-serving", default="http://localhost:8501", metavar="URL", help="TF Serving's REST API")
    ready.add_argument("--model", action="append", required=True, metavar="NAME=VERSION",
                       help="VERSION: latest, a number or numbers: 3,4 (repeatable)")  # fmt: skip
    ready.add_argument("--port", type=int, default=8080, help="port of /ready")
    ready.set_defaults(handler=serving_ready_command, needs_config=False)

    demo = sub.add_parser("serving-demo", help="a web page to try a served model (type a review, see the prediction)")
    demo.add_argument("--model", required=True, metavar="NAME", help="the served model")
    demo.add_argument("--tf-serving", default="http://localhost:8501", metavar="URL", help="TF Serving's REST API")
    demo.add_argument("--port", type=int, default=8080, help="port of the page")
    add_common(demo)
    demo.set_defaults(handler=serving_demo_command, tensorflow=True, preflight=_demo_port)

    smoke = sub.add_parser("serving-test", help="replay a published version's warm-up request over REST and gRPC")
    smoke.add_argument("--model", required=True, metavar="NAME", help="the published and served model")
    smoke.add_argument("--version", default="latest", metavar="N|latest", help="the version that must answer")
    smoke.add_argument("--rest", default="http://localhost:8501", metavar="URL", help="TF Serving's REST API")
    smoke.add_argument("--grpc", metavar="HOST:PORT", help="also ask TF Serving's gRPC API")
    add_common(smoke)
    smoke.set_defaults(handler=serving_test_command, tensorflow=True)


def require_free_port(port: int, flag: str = "--port", host: str = "127.0.0.1") -> None:
    """Refuse a port another process listens on, in one line, before a server (or a whole run) starts.

    Binds the way the servers do (``SO_REUSEADDR``, as ``http.server`` sets
    it), so a port whose last server has just stopped counts as free.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise DlpipeError(f"port {port} is in use: pass {flag} or stop the other server") from None
            if exc.errno == errno.EACCES:
                raise DlpipeError(f"port {port} needs privileges to listen on", f"pass {flag} above 1023") from None
            raise


def _demo_port(args: argparse.Namespace) -> None:
    require_free_port(args.port, host="0.0.0.0")


def serving_demo_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.serving.demo import Demo, serve

    serve(Demo(Layout.from_config(cfg), args.model, args.tf_serving), args.port).serve_forever()
    return EXIT_OK


def serving_test_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.serving.smoke import check  # TensorFlow: reads the warm-up request

    for line in check(Layout.from_config(cfg), args.model, args.version, args.rest, args.grpc):
        print(line)
    return EXIT_OK


def _serve_local_ports(args: argparse.Namespace) -> None:
    require_free_port(args.port)
    if args.grpc_port is not None:
        require_free_port(args.grpc_port, "--grpc-port")


def serve_local_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.serving.local import serve

    server = serve(
        Layout.from_config(cfg),
        model_name=args.model_name,
        model_config_file=args.model_config_file,
        version_policy=args.model_version_policy,
        version_labels=args.version_label,
        allow_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        port=args.port,
        grpc_port=args.grpc_port,
        poll=args.poll,
        max_load_retries=args.max_num_load_retries,
        load_retry_interval=args.load_retry_interval,
        grpc_max_message_bytes=args.grpc_max_message_bytes,
    )
    try:
        threading.Event().wait()
    finally:
        server.stop()
    return EXIT_OK


def serving_ready_command(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dlpipe.serving.ready import serve

    wanted = {}
    for item in args.model:
        name, sep, versions = item.partition("=")
        if not sep or not (versions == "latest" or all(v.isdigit() for v in versions.split(","))):
            raise ConfigError(f"--model {item!r} is not NAME=VERSION (VERSION: latest, a number or numbers: 3,4)")
        wanted[name] = versions
    require_free_port(args.port, host="0.0.0.0")
    serve(args.port, args.tf_serving, wanted).serve_forever()
    return EXIT_OK
