"""``python -m sandbox.aws --port 5000``: the AWS sandbox as a standalone server (demo, other processes).

Installs the VM Import/Export extension, then serves moto (all services) behind the sandbox middleware.
Control it over HTTP (``/_sandbox/...``) or with ``sandbox.aws.connect("http://127.0.0.1:5000")``.
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.aws", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--region", default="us-east-1", help="region shown in the banner (clients choose)")
    parser.add_argument("--speed", type=float, default=1.0,
                        help="sandbox clock speed: 1 = real time (default), 0 = frozen, 10 = 10x faster")
    parser.add_argument("--vmimport-role", action="store_true",
                        help="create the vmimport service role at start and after every reset")
    parser.add_argument("--no-ami-validation", action="store_true",
                        help="let RunInstances accept unknown AMI ids (moto's default behaviour)")
    parser.add_argument("--no-default-amis", action="store_true",
                        help="do not load moto's ~1300 stock AMIs (faster start and reset)")
    parser.add_argument("--import-limit", type=int)
    parser.add_argument("--import-snapshot-limit", type=int)
    parser.add_argument("--export-limit", type=int)
    parser.add_argument("--import-duration", type=float, help="seconds from ImportImage to completed (90)")
    parser.add_argument("--import-snapshot-duration", type=float, help="seconds for ImportSnapshot (45)")
    parser.add_argument("--export-duration", type=float, help="seconds from CreateInstanceExportTask to completed (60)")
    parser.add_argument("--cleanup-duration", type=float, help="deleting/cancelling phase length (5)")
    parser.add_argument("--quiet", action="store_true", help="do not log every request")
    parser.add_argument("--credentials", action="append", default=[], metavar="KEY:SECRET",
                        help="an access key presigned S3 requests may be signed with (repeatable; 'testing' and the "
                        "keys moto's IAM and STS issue are always known)")
    parser.add_argument("--https-dir", help="serve HTTPS with a new self-signed certificate written to this "
                        "directory as ca.pem (give it to clients as their CA bundle) and key.pem")
    args = parser.parse_args(argv)

    import os

    if args.no_default_amis:
        os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    from werkzeug.serving import make_server

    from . import presigned, vmie
    from .server import _prepare_moto, make_app, request_handler_class, server_tls_context, tls_material
    from .state import STATE

    settings = {
        name: getattr(args, name)
        for name in ("import_limit", "import_snapshot_limit", "export_limit", "import_duration",
                     "import_snapshot_duration", "export_duration", "cleanup_duration")
        if getattr(args, name) is not None
    }
    _prepare_moto(validate_amis=not args.no_ami_validation)  # extension first, then serve
    STATE.configure_defaults(speed=args.speed, vmimport_role=args.vmimport_role, **settings)
    if args.vmimport_role:
        vmie.create_vmimport_role()
    for pair in args.credentials:
        access_key, _, secret = pair.partition(":")
        presigned.register_credentials(access_key, secret)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    context, scheme = None, "http"
    if args.https_dir:
        context, scheme = server_tls_context(*tls_material(args.https_dir)), "https"
    server = make_server(args.host, args.port, make_app(), threaded=True, request_handler=request_handler_class(),
                         ssl_context=context)
    endpoint = f"{scheme}://{args.host}:{server.server_port}"
    print(f"AWS sandbox on {endpoint} (region {args.region}, access key/secret 'testing'); "
          f"control: {endpoint}/_sandbox/state; clock speed {args.speed}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
