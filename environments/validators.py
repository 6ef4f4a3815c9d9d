from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from adapters.aws.client import known_region_codes


def validate_region_code(value: str) -> None:
    if value not in known_region_codes():
        raise ValidationError(
            "%(value)s is not an AWS region code (for example us-east-1, eu-west-2).",
            code="unknown_region", params={"value": value},
        )


validate_vpc_id = RegexValidator(r"^vpc-([0-9a-f]{8}|[0-9a-f]{17})$", "A VPC id looks like vpc-0123456789abcdef0.")
validate_subnet_id = RegexValidator(r"^subnet-([0-9a-f]{8}|[0-9a-f]{17})$", "Not a subnet id.")
validate_security_group_id = RegexValidator(r"^sg-([0-9a-f]{8}|[0-9a-f]{17})$", "Not a security group id.")
validate_ami_id = RegexValidator(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$", "An AMI id looks like ami-0123456789abcdef0.")
validate_instance_id = RegexValidator(r"^i-([0-9a-f]{8}|[0-9a-f]{17})$", "Not an EC2 instance id.")
validate_instance_type = RegexValidator(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$", "An instance type looks like t3.medium.")
