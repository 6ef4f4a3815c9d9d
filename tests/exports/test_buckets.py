"""Export bucket names are legal S3 bucket names in every region, and the buckets get what VM Export needs."""

import pytest
from django.core.exceptions import ValidationError

from exports.buckets import bucket_name_problem, export_bucket_name, validate_export_name
from adapters.aws import client as aws

# (bucket name, legal?)
BUCKET_NAMES = [
    ("abc", True),
    ("export-to-s3-acme-us-east-1", True),
    ("export-to-s3-a1-ap-southeast-5", True),
    ("a" * 63, True),
    ("ab", False),  # too short
    ("a" * 64, False),  # too long
    ("Export-to-s3-acme-us-east-1", False),  # uppercase
    ("export_to_s3", False),  # underscore
    ("export.to.s3", False),  # dots: legal in S3, refused here (virtual-hosted TLS)
    ("-export", False),  # leading hyphen
    ("export-", False),  # trailing hyphen
    ("192.168.5.4", False),  # an IP address
    ("10-0-0-1", True),  # looks like one, is not
    ("export to s3", False),  # space
    ("éxport", False),  # not ASCII
    ("", False),
]


@pytest.mark.parametrize("bucket,legal", BUCKET_NAMES, ids=[b or "empty" for b, _ in BUCKET_NAMES])
def test_bucket_name_table(bucket, legal):
    assert (bucket_name_problem(bucket) is None) == legal


# (export name, accepted?)
EXPORT_NAMES = [
    ("acme", True),
    ("acme-2", True),
    ("a", True),
    ("0", True),
    ("a" * 34, True),  # the longest that fits beside the longest region code, in every region
    ("a" * 35, False),
    ("Acme", False),
    ("acme_corp", False),
    ("-acme", False),
    ("acme-", False),
    ("acme.corp", False),
    ("", False),
]


@pytest.mark.parametrize("name,accepted", EXPORT_NAMES, ids=[n or "empty" for n, _ in EXPORT_NAMES])
def test_export_name_table(name, accepted):
    if accepted:
        validate_export_name(name)
        for region in aws.known_region_codes():
            assert bucket_name_problem(export_bucket_name(name, region)) is None, region
    else:
        with pytest.raises(ValidationError) as exc:
            validate_export_name(name)
        assert "name" in exc.value.message_dict


def test_every_known_region_makes_a_legal_bucket_with_the_longest_name():
    longest = "a" * 34
    for region in aws.known_region_codes():
        bucket = export_bucket_name(longest, region)
        assert bucket.startswith("export-to-s3-") and bucket.endswith(f"-{region}")
        assert bucket_name_problem(bucket) is None


def test_vm_export_grantee_is_region_specific():
    assert aws.export_grantee_canonical_id("us-east-1") == aws.VMIE_EXPORT_DEFAULT_CANONICAL_ID
    assert aws.export_grantee_canonical_id("eu-south-1").startswith("04636d9a")
    assert aws.export_grantee_canonical_id("cn-northwest-1").startswith("834bafd8")
    assert aws.export_grantee_canonical_id("us-gov-west-1").startswith("af913ca1")
    for region, grantee in aws.VMIE_EXPORT_CANONICAL_IDS.items():
        assert region in aws.known_region_codes(), region
        assert len(grantee) == 64 and int(grantee, 16) >= 0


def test_bucket_policy_grants_vm_export_only_what_it_needs_in_the_right_partition():
    policy = aws.export_bucket_policy("export-to-s3-acme-cn-north-1", "cn-north-1")
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"CanonicalUser": aws.export_grantee_canonical_id("cn-north-1")}
    assert statement["Action"] == ["s3:GetBucketAcl", "s3:PutObject"]
    assert statement["Resource"] == ["arn:aws-cn:s3:::export-to-s3-acme-cn-north-1",
                                     "arn:aws-cn:s3:::export-to-s3-acme-cn-north-1/*"]
