"""The endpoints a connector agent calls to take a migration and run its vCenter steps (migrations_app.agent_work),
each signed with the agent's own key. A job of another tenant answers 404 exactly like a missing one; a lease the
agent no longer holds answers 409 `lease_lost`, on which it stops."""

from __future__ import annotations

import contextvars
import logging
import time
from contextlib import contextmanager

from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from adapters.aws import client as aws
from core.connectors import services as agent_services
from core.connectors.api import AgentEndpoint
from core.connectors.keys import keys_digest
from core.errors import UpstreamError
from core.middleware import client_address
from migrations_app import agent_work, work_board

logger = logging.getLogger("portal.migrations.agent")


@contextmanager
def aws_refusals():
    """An AWS failure on the agent's behalf: a category and code for the agent, never the SDK's text."""
    try:
        yield
    except aws.AwsError as exc:
        raise UpstreamError(f"AWS refused the request ({exc.code}).", code=f"aws_{exc.code}"[:100]) from None


class WorkRequestSerializer(serializers.Serializer):
    wait = serializers.FloatField(min_value=0, max_value=600, default=0,
                                  help_text="Hold the request up to this many seconds (at most the portal's "
                                            "AGENT_WORK_WAIT_SECONDS) while there is no work.")
    keys = serializers.CharField(max_length=64, required=False, allow_blank=True, default="",
                                 help_text="`connector.protocol.keys_digest` of the portal keys the agent pinned: "
                                           "when they are not the portal's, the answer rings at once, with no job.")


# One instance validates every request for work: making a serializer copies its declared fields and makes their
# validators anew, and an idle agent's request for work is what the portal answers most (bench/connectors.py).
# Validating keeps nothing in the instance.
_WORK_REQUEST = WorkRequestSerializer()


class HandoutSerializer(serializers.Serializer):
    kind = serializers.CharField(default="migration")
    job_id = serializers.IntegerField()
    epoch = serializers.IntegerField()
    token = serializers.CharField()
    vm_moref = serializers.CharField()
    vm_name = serializers.CharField()
    power_off = serializers.BooleanField()
    lease_seconds = serializers.IntegerField()
    part_size = serializers.IntegerField()
    concurrency = serializers.IntegerField()
    max_disk_bytes = serializers.IntegerField()
    previous_export_lease = serializers.CharField(allow_blank=True)


class WorkAnswerSerializer(serializers.Serializer):
    jobs = HandoutSerializer(many=True)
    beat = serializers.BooleanField(help_text="The portal has something to tell the agent (an inventory asked for, "
                                              "a key to rotate or pin, a revoked credential): send a heartbeat now.")


class AgentWorkView(AgentEndpoint):
    """Migrations waiting for this agent, each under a fresh lease epoch with a token the portal signed now. With
    `wait`, the request is held until work arrives or the wait ends: it waits on this process's work board
    (migrations_app.work_board), which looks for every waiting request at once, so a held request costs no query
    and no database connection, and work that arrives is taken within about a second. The request also stands in
    for the agent's heartbeat while it waits: it keeps the agent's contact, and it ends as soon as the portal has
    something that only a heartbeat's answer carries (`beat`), so that the agent need not send one every
    AGENT_HEARTBEAT_SECONDS to hear it in time (it sends one every AGENT_POLLING_HEARTBEAT_SECONDS instead).

    A hold longer than AGENT_WORK_KEEPALIVE_SECONDS is answered at once with a streamed body: a space every that
    many seconds (so that no proxy between agent and portal closes the connection as idle), then the JSON answer,
    which JSON parsers read past the leading whitespace. A failure after the answer began (the database lost while
    claiming, say) closes the connection before the JSON ends, which the agent treats as any broken connection.
    The access log line and latency of a streamed answer are those of its start."""

    @extend_schema(request=WorkRequestSerializer, responses={200: WorkAnswerSerializer})
    def post(self, request):
        asked = _WORK_REQUEST.run_validation(request.data)
        wait = min(asked["wait"], settings.AGENT_WORK_WAIT_SECONDS)
        agent = request.auth
        address = client_address(request)
        if asked["keys"] and asked["keys"] != keys_digest():
            # A token signed with a key the agent has not pinned yet would be refused: no job before it pins it.
            agent_services.agent_seen(agent=agent, address=address)
            return self.answer([], beat=True)
        if wait <= 0:
            agent_services.agent_seen(agent=agent, address=address)
            return self.answer(_take(agent))
        # While the request waits, the board records its agent's contact (every AGENT_HEARTBEAT_SECONDS, for all
        # the agents waiting in the process at once): an agent that keeps asking is not written each time.
        agent_services.agent_seen(agent=agent, fresh_seconds=settings.AGENT_HEARTBEAT_SECONDS, address=address)
        keepalive = settings.AGENT_WORK_KEEPALIVE_SECONDS
        hold = _hold(agent, wait, keepalive=keepalive)
        if wait <= keepalive:
            *_, (handouts, beat) = hold
            return self.answer(handouts, beat=beat)
        # The body is produced after the middleware returned: each step runs in this request's context (its request
        # id in the log lines, its client's address in audit rows).
        streamed = StreamingHttpResponse(_within(contextvars.copy_context(), _streamed(hold)),
                                         content_type="application/json")
        # nginx buffers an upstream's answer unless told: the spaces must reach the agent's side of the proxy too.
        streamed["X-Accel-Buffering"] = "no"
        return streamed

    @staticmethod
    def answer(handouts, *, beat: bool = False) -> Response:
        return Response(_answer_data(handouts, beat))


KEEPALIVE = b" "


def _hold(agent, wait: float, *, keepalive: float):
    """Hold the agent's request on the board until work is taken, a bell rings or `wait` ends; yields KEEPALIVE each
    `keepalive` seconds of the hold, then (handouts, beat)."""
    deadline = time.monotonic() + wait
    with work_board.BOARD.watch(agent.tenant_id, agent.pk) as watch:
        # Registered first: whatever becomes claimable from here on wakes the watch. What was claimable before,
        # the board's last look knows of, and then the request takes it at once.
        handouts = _take(agent) if watch.work_known else []
        sent = time.monotonic()
        while not handouts and not watch.rang():
            work_board.release_connection()
            now = time.monotonic()
            if now >= deadline:
                break
            if now - sent >= keepalive:
                yield KEEPALIVE
                sent = now
            if watch.wait(min(deadline, sent + keepalive) - now):
                handouts = _take(agent)
        yield handouts, watch.rang()


def _streamed(hold):
    for moment in hold:
        if moment is KEEPALIVE:
            yield KEEPALIVE
        else:
            yield _RENDERER.render(_answer_data(*moment))


def _within(context: contextvars.Context, steps):
    """Each step of `steps` run in `context`; closing this closes `steps` (the server closes a streamed answer when
    the agent went away: the hold then leaves the board at once)."""
    try:
        while True:
            try:
                yield context.run(next, steps)
            except StopIteration:
                return
            except Exception:
                logger.warning("a streamed answer to a request for work failed; its connection is closed",
                               exc_info=True)
                raise
    finally:
        context.run(steps.close)


def _answer_data(handouts, beat: bool) -> dict:
    return {"jobs": [HandoutSerializer(h).data for h in handouts], "beat": beat}


_RENDERER = JSONRenderer()


def _take(agent) -> list:
    return agent_work.work_claim(agent=agent) if agent_work.work_waiting(agent) else []


class HeldSerializer(serializers.Serializer):
    epoch = serializers.IntegerField(min_value=1)


class ReportSerializer(HeldSerializer):
    step = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    status_message = serializers.CharField(max_length=1000, required=False, default="", allow_blank=True)
    bytes_exported = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)
    bytes_uploaded = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)
    nfc_lease_moref = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)


class AgentReportView(AgentEndpoint):
    """Progress, and the agent's heartbeat for the job (it renews the job's lease)."""

    @extend_schema(request=ReportSerializer, responses={204: None})
    def post(self, request, pk):
        agent_work.work_report(agent=request.auth, job_id=pk, **self.body(request, ReportSerializer))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ExportedSerializer(HeldSerializer):
    device_keys = serializers.ListField(child=serializers.CharField(max_length=255), max_length=64)
    capacities = serializers.ListField(child=serializers.IntegerField(min_value=0), max_length=64)
    total_capacity = serializers.IntegerField(min_value=0)

    def validate(self, attrs):
        if len(attrs["device_keys"]) != len(attrs["capacities"]):
            raise serializers.ValidationError("One capacity per disk.")
        return attrs


class DiskSerializer(serializers.Serializer):
    device_key = serializers.CharField()
    size = serializers.IntegerField()
    done = serializers.BooleanField()


class DisksAnswerSerializer(serializers.Serializer):
    disks = DiskSerializer(many=True)


class AgentExportedView(AgentEndpoint):
    """The export lease is ready with these disks (the first time they become the job's disks)."""

    @extend_schema(request=ExportedSerializer, responses={200: DisksAnswerSerializer})
    def post(self, request, pk):
        disks = agent_work.work_exported(agent=request.auth, job_id=pk, **self.body(request, ExportedSerializer))
        return Response({"disks": DiskSerializer(disks, many=True).data})


class DiskBeginSerializer(HeldSerializer):
    restart = serializers.CharField(max_length=300, required=False, default="", allow_blank=True)
    capacity = serializers.IntegerField(min_value=0, required=False, default=0)


class ListedPartSerializer(serializers.Serializer):
    part_number = serializers.IntegerField(min_value=1, max_value=10_000)
    etag = serializers.CharField(max_length=200)
    size = serializers.IntegerField(min_value=0)
    crc32 = serializers.IntegerField(min_value=0, max_value=2**32 - 1, allow_null=True)


class DiskUploadSerializer(serializers.Serializer):
    upload_id = serializers.CharField()
    s3_key = serializers.CharField()
    plan = serializers.DictField(child=serializers.IntegerField())
    size = serializers.IntegerField()
    parts = ListedPartSerializer(many=True)


class AgentDiskBeginView(AgentEndpoint):
    """The disk's multipart upload (created now if need be) and the parts S3 already holds of it, with CRC32."""

    @extend_schema(request=DiskBeginSerializer, responses={200: DiskUploadSerializer})
    def post(self, request, pk, index):
        with aws_refusals():
            answer = agent_work.work_disk_begin(agent=request.auth, job_id=pk, index=index,
                                                **self.body(request, DiskBeginSerializer))
        return Response(answer)


class PartAskSerializer(serializers.Serializer):
    part_number = serializers.IntegerField(min_value=1, max_value=10_000)
    crc32 = serializers.IntegerField(min_value=0, max_value=2**32 - 1)


class PresignSerializer(HeldSerializer):
    upload_id = serializers.CharField(max_length=1024)
    parts = PartAskSerializer(many=True, max_length=agent_work.MAX_PARTS_PER_PRESIGN, min_length=1)


class PresignedSerializer(serializers.Serializer):
    part_number = serializers.IntegerField()
    url = serializers.CharField()
    headers = serializers.DictField(child=serializers.CharField())
    expires_at = serializers.FloatField()


class PresignAnswerSerializer(serializers.Serializer):
    parts = PresignedSerializer(many=True)


class AgentPresignView(AgentEndpoint):
    """Presigned UploadPart URLs (at most 15 minutes), each for its own part of the disk's upload, with the part's
    CRC32 signed in: S3 refuses the URL for another part or key, and a body with another checksum."""

    @extend_schema(request=PresignSerializer, responses={200: PresignAnswerSerializer})
    def post(self, request, pk, index):
        body = self.body(request, PresignSerializer)
        with aws_refusals():
            signed = agent_work.work_presign(
                agent=request.auth, job_id=pk, epoch=body["epoch"], index=index, upload_id=body["upload_id"],
                parts=[(p["part_number"], p["crc32"]) for p in body["parts"]])
        return Response({"parts": signed})


class DiskDoneSerializer(HeldSerializer):
    upload_id = serializers.CharField(max_length=1024)
    parts = ListedPartSerializer(many=True, max_length=10_000, min_length=1)
    resumed = serializers.IntegerField(min_value=0, default=0)


class DiskDoneAnswerSerializer(serializers.Serializer):
    done = serializers.BooleanField()


class AgentDiskDoneView(AgentEndpoint):
    """Complete the disk's upload. `done: false`: S3 lost the upload and the disk starts again (begin it anew)."""

    @extend_schema(request=DiskDoneSerializer, responses={200: DiskDoneAnswerSerializer})
    def post(self, request, pk, index):
        body = self.body(request, DiskDoneSerializer)
        parts = [aws.UploadedPart(p["part_number"], p["etag"], p["size"], p["crc32"]) for p in body["parts"]]
        with aws_refusals():
            done = agent_work.work_disk_done(agent=request.auth, job_id=pk, epoch=body["epoch"], index=index,
                                             upload_id=body["upload_id"], parts=parts, resumed=body["resumed"])
        return Response({"done": done})


class AgentUploadedView(AgentEndpoint):
    """Every disk is in S3 and the export lease completed: the portal imports the image."""

    @extend_schema(request=HeldSerializer, responses={204: None})
    def post(self, request, pk):
        agent_work.work_uploaded(agent=request.auth, job_id=pk, **self.body(request, HeldSerializer))
        return Response(status=status.HTTP_204_NO_CONTENT)


class FailedSerializer(HeldSerializer):
    code = serializers.SlugField(max_length=80)
    message = serializers.CharField(max_length=1000)
    transient = serializers.BooleanField()


class AgentFailedView(AgentEndpoint):
    """The agent could not go on: retried from the checkpoint when transient, else the job fails."""

    @extend_schema(request=FailedSerializer, responses={204: None})
    def post(self, request, pk):
        agent_work.work_failed(agent=request.auth, job_id=pk, **self.body(request, FailedSerializer))
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("agent/work/", AgentWorkView.as_view(), name="agent-work"),
    path("agent/migrations/<int:pk>/report/", AgentReportView.as_view(), name="agent-migration-report"),
    path("agent/migrations/<int:pk>/exported/", AgentExportedView.as_view(), name="agent-migration-exported"),
    path("agent/migrations/<int:pk>/disks/<int:index>/begin/", AgentDiskBeginView.as_view(),
         name="agent-migration-disk-begin"),
    path("agent/migrations/<int:pk>/disks/<int:index>/presign/", AgentPresignView.as_view(),
         name="agent-migration-disk-presign"),
    path("agent/migrations/<int:pk>/disks/<int:index>/done/", AgentDiskDoneView.as_view(),
         name="agent-migration-disk-done"),
    path("agent/migrations/<int:pk>/uploaded/", AgentUploadedView.as_view(), name="agent-migration-uploaded"),
    path("agent/migrations/<int:pk>/failed/", AgentFailedView.as_view(), name="agent-migration-failed"),
]
