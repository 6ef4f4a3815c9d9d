"""`make run`: migrate, seed the demo tenant, start the sandbox peers (unless told not to), a django-q2 worker
and the web server on http://127.0.0.1:8000; Ctrl-C stops them all."""

import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run the portal for a demo: web server, worker, demo tenant and (by default) sandbox peers."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--no-sandbox", action="store_true",
                            help="Do not start the sandbox vCenter and AWS (use the configured real ones).")

    def handle(self, *args, addr, no_sandbox, **options):
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        call_command("migrate", verbosity=0, interactive=False)
        call_command("seed_demo")
        children: list[subprocess.Popen] = []
        child_env = dict(os.environ)
        # A service manager (or `timeout`) stops with SIGTERM: stop the children too, as Ctrl-C does.
        signal.signal(signal.SIGTERM, _interrupt)
        peers = None
        try:
            if not no_sandbox:
                from portal.site.demo import configure_demo_tenant
                from sandbox.demo import start_demo_peers

                peers = start_demo_peers()
                # This process keeps serving the AWS sandbox; the web server and the worker talk to it over HTTP.
                settings.AWS_ENDPOINT_URL = child_env["AWS_ENDPOINT_URL"] = peers.aws_endpoint
                # The outbound policy's allowance for the sandbox vCenter (loopback, plain HTTP), here and in the
                # web server and worker, which read it from their environment.
                child_env.update(peers.portal_settings)
                if "OUTBOUND_ALLOW_HTTP" in peers.portal_settings:
                    settings.OUTBOUND_ALLOW_HTTP = peers.portal_settings["OUTBOUND_ALLOW_HTTP"] == "true"
                if "OUTBOUND_ALLOWED_CIDRS" in peers.portal_settings:
                    settings.OUTBOUND_ALLOWED_CIDRS = peers.portal_settings["OUTBOUND_ALLOWED_CIDRS"].split(",")
                configure_demo_tenant(peers, self.stdout)
            children.append(subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=child_env))
            self.stdout.write(f"Portal on http://{addr}/  (API docs at /api/docs/)")
            server = subprocess.Popen([sys.executable, "manage.py", "runserver", addr, "--noreload"], env=child_env)
            children.append(server)
            from portal.site.demo import start_demo_agent

            agent = start_demo_agent(portal_url=f"http://{addr}", var_dir=settings.VAR_DIR, stdout=self.stdout,
                                     vcenter=peers if peers is not None and peers.vcenter_url else None)
            if agent is not None:
                children.insert(0, agent)  # stopped first, before the server it reports to
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            for child in reversed(children):
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
            if peers is not None:
                peers.stop()
