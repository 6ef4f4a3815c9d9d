"""The AWS adapter's public face (`adapters.aws.client`) over its per-service modules: every name is
defined once, and replacing a name on the face (as tests and bench/faults.py do) reaches the adapter's own call
sites in every module, as when the adapter was one module."""

from __future__ import annotations

import pytest

from adapters.aws import client as aws
from adapters.aws import exports, regions, s3, session


def test_each_public_name_is_defined_in_one_module_and_reexported():
    parts = [m.__all__ for m in aws._PARTS]
    names = [name for part in parts for name in part]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    assert sorted(aws.__all__) == sorted(names)
    for name in names:
        assert getattr(aws, name) is getattr(aws._HOMES[name], name), name


class _FakeEc2:
    def describe_instances(self, **params):
        return {"Reservations": [{"Instances": [{"InstanceId": params["InstanceIds"][0],
                                                 "State": {"Name": "running"}}]}]}


def test_replacing_client_on_the_face_reaches_every_module(monkeypatch):
    real = aws.client
    made = []

    def fake(service, credentials, region):
        made.append((service, region))
        return _FakeEc2()

    monkeypatch.setattr(aws, "client", fake)
    assert session.client is fake
    info = aws.instance_describe(aws.AwsCredentials("k", "s"), "eu-west-1", "i-0123")
    assert (info.instance_id, info.state) == ("i-0123", "running")
    assert made == [("ec2", "eu-west-1")]
    monkeypatch.undo()
    assert aws.client is real and session.client is real


def test_replacing_a_function_reaches_callers_in_other_modules(monkeypatch):
    monkeypatch.setattr(aws, "partition_of", lambda region: "aws-test")
    assert regions.partition_of("eu-west-1") == "aws-test"
    assert exports.export_bucket_policy("b", "eu-west-1")["Statement"][0]["Resource"][0] == "arn:aws-test:s3:::b"
    monkeypatch.undo()
    assert exports.export_bucket_policy("b", "eu-west-1")["Statement"][0]["Resource"][0] == "arn:aws:s3:::b"


def test_replacing_a_function_reaches_callers_in_its_own_module(monkeypatch):
    aborted = []
    monkeypatch.setattr(aws, "multipart_abort", lambda s3_client, bucket, key, upload_id: aborted.append(key))
    monkeypatch.setattr(aws, "client", lambda service, credentials, region: object())
    s3.multipart_abort_upload(aws.AwsCredentials("k", "s"), "eu-west-1", "bucket", "key", "upload")
    assert aborted == ["key"]


def test_an_empty_describe_raises_the_adapters_not_found_error(monkeypatch):
    class Empty:
        def describe_instances(self, **params):
            return {"Reservations": []}

    monkeypatch.setattr(aws, "client", lambda service, credentials, region: Empty())
    with pytest.raises(aws.AwsError) as raised:
        aws.instance_describe(aws.AwsCredentials("k", "s"), "eu-west-1", "i-gone")
    assert raised.value.code == "InvalidInstanceID.NotFound"


def _client_error(code: str):
    import botocore.exceptions

    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "m"}}, "Op")


@pytest.mark.parametrize(("code", "passes"), [
    ("InvalidInstanceID.NotFound", True), ("InvalidInstanceID.Malformed", True), ("IncorrectState", True),
    ("IncorrectStateX", False), ("InvalidInstance", False), ("AccessDenied", False),
])
def test_ignoring_lets_only_the_named_codes_and_prefixes_pass(code, passes):
    def call():
        with session.translated_errors(), session.ignoring("InvalidInstanceID*", "IncorrectState"):
            raise _client_error(code)

    if passes:
        call()
    else:
        with pytest.raises(aws.AwsError) as raised:
            call()
        assert raised.value.code == code


def test_tagging_leaves_out_blank_ids(monkeypatch):
    """A migration that never got to its image or instance has blank ids: EC2 refuses a CreateTags naming one, which
    made the results-tagging pass skip that row on every run."""
    calls = []

    class Ec2:
        def create_tags(self, **kwargs):
            calls.append(kwargs["Resources"])

    monkeypatch.setattr(aws, "client", lambda service, credentials, region: Ec2())
    credentials = aws.AwsCredentials("k", "s")
    aws.resources_tag(credentials, "eu-west-1", ["i-0123", "", "ami-0123"], {"portal-result": "migration-1"})
    aws.resources_tag(credentials, "eu-west-1", ["", ""], {"portal-result": "migration-2"})
    assert calls == [["i-0123", "ami-0123"]]
