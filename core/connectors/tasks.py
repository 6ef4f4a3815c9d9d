"""django-q2 entry point of the heartbeat schedule each connector cluster (and the shared one) runs."""


def connector_heartbeat() -> str:
    from django_q.conf import Conf

    from core.connectors.services import connector_beat

    connector_beat(cluster=Conf.CLUSTER_NAME)
    return Conf.CLUSTER_NAME
