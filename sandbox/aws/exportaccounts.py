"""The canonical account VM Export writes an exported image as, per region (VM Import/Export User Guide,
"Prerequisites for exporting an instance"; every region not listed uses the default). The export bucket must grant
that account WRITE and READ_ACP (ExportToS3TaskSpecification.S3Bucket, EC2 API Reference). Plain data, no moto
import, so that test helpers can use it.
"""

from __future__ import annotations

EXPORT_DEFAULT_CANONICAL_ID = "c4d8eabf8db69dbe46bfe0e517100c554f01200b104d59cd408e777ba442a322"
EXPORT_CANONICAL_IDS = {
    "af-south-1": "3f7744aeebaf91dd60ab135eb1cf908700c8d2bc9133e61261e6c582be6e33ee",
    "ap-east-1": "97ee7ab57cc9b5034f31e107741a968e595c0d7a19ec23330eae8d045a46edfb",
    "ap-east-2": "a9fa0eb7c8483f9558cd14b24d16e9c4d1555261a320b586a3a06908ff0047ce",
    "ap-northeast-3": "40f22ffd22d6db3b71544ed6cd00c8952d8b0a63a87d58d5b074ec60397db8c9",
    "ap-south-2": "77ab5ec9eac9ade710b7defed37fe0640f93c5eb76ea65a64da49930965f18ca",
    "ap-southeast-3": "de34aaa6b2875fa3d5086459cb4e03147cf1a9f7d03d82f02bedb991ff3d1df5",
    "ap-southeast-4": "8b8ea36ab97c280aa8558c57a380353ac7712f01f82c21598afbb17e188b9ad5",
    "ap-southeast-5": "ed006f67543afcfe0779e356e52d5ed53fa45f95bcd7d277147dfc027aaca0e7",
    "ap-southeast-6": "2dc8fa4ca1c59da5c6a4c5b0e397eea130ec62e49f18cff179034665fd20e8a2",
    "ap-southeast-7": "d011fe83abcc227a7ac0f914ce411d3630c4ef735e92e88ce0aa796dcfecfbdd",
    "ca-west-1": "78e12f8d798f89502177975c4ccdac686c583765cea2bf06e9b34224e2953c83",
    "eu-central-2": "5d9fcea77b2fb3df05fc15c893f212ae1d02adb4b24c13e18586db728a48da67",
    "eu-south-1": "04636d9a349e458b0c1cbf1421858b9788b4ec28b066148d4907bb15c52b5b9c",
    "eu-south-2": "6e81c4c52a37a7f59e103625162ed97bcd0e646593adb107d21310d093151518",
    "il-central-1": "328a78de7561501444823ebeb59152eca7cb58fee2fe2e4223c2cdd9f93ae931",
    "me-central-1": "7d3018832562b7b6c126f5832211fae90bd3eee3ed3afde192d990690267e475",
    "me-south-1": "aa763f2cf70006650562c62a09433f04353db3cba6ba6aeb3550fdc8065d3d9f",
    "mx-central-1": "edaff67fe25d544b855bd0ba9a74a99a2584ab89ceda0a9661bdbeca530d0fca",
}
EXPORT_CANONICAL_ID_BY_PARTITION = {
    "aws-cn": "834bafd86b15b6ca71074df0fd1f93d234b9d5e848a2cb31f880c149003ce36f",
    "aws-us-gov": "af913ca13efe7a94b88392711f6cfc8aa07c9d1454d4f190a624b126733a5602",
}


def export_canonical_id(region: str) -> str:
    """The canonical account VM Export writes the exported image as in ``region``."""
    if region in EXPORT_CANONICAL_IDS:
        return EXPORT_CANONICAL_IDS[region]
    if region.startswith("cn-"):
        return EXPORT_CANONICAL_ID_BY_PARTITION["aws-cn"]
    if region.startswith("us-gov-"):
        return EXPORT_CANONICAL_ID_BY_PARTITION["aws-us-gov"]
    return EXPORT_DEFAULT_CANONICAL_ID
