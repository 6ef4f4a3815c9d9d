"""How the portal recognises a connector agent: every request signed with the agent's Ed25519 key
(`connector.protocol`), fresh, and never seen before. An unknown agent, a revoked one, a wrong key and a bad
signature get the same answer, so the answers tell a caller nothing about which agents exist."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from django.db import connection
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from connector import protocol
from core.connectors import services
from core.connectors.models import Agent

NOT_RECOGNISED = "The connector agent is not recognised."
REPLAYED = "This request was already received; a request is accepted once."


@dataclass(frozen=True)
class AgentPrincipal:
    """The caller of an agent endpoint (`request.user`): an agent, never a person, so no page or people's API
    accepts it (they require a tenant member)."""

    agent: Agent
    is_authenticated: bool = True
    is_active: bool = True
    is_superuser: bool = False
    tenant_id: int | None = None
    role: str = ""

    @classmethod
    def of(cls, agent: Agent) -> AgentPrincipal:
        return cls(agent=agent, tenant_id=agent.tenant_id)

    def get_username(self) -> str:
        # How the request log and the audit name the caller: never to be mistaken for a person's username.
        return f"agent:{self.agent.name}"


_compiled: dict = {}
_ANY_ID = -1  # stands for the agent's id while the query is compiled


def _serving_agent(agent_id: str, nonce: str | None = None) -> tuple[Agent | None, bool | None]:
    """The agent a request names, if it serves: registered, not revoked, its tenant active; and, given the request's
    nonce on PostgreSQL, whether it is the nonce's first use, recorded in the same statement (SQLite cannot write in
    a WITH clause: None, for `services.agent_nonce_use` to record). Every signed request runs this, so the query is
    compiled once per database (building and compiling it through the ORM each time was most of the lookup's cost)
    and its row made into the Agent with `from_db`, as the ORM does, without a raw query set's column mapping (which
    cost as much again). The tenant is not loaded with it: the few endpoints that need more than its id load it
    when they do."""
    if not (agent_id.isdigit() and len(agent_id) < 19):
        return None, None
    key = (connection.vendor, connection.settings_dict["NAME"])
    compiled = _compiled.get(key)
    if compiled is None:  # kept in a local: another thread may replace the dict's entry meanwhile
        query = (Agent.objects.exclude(public_key="")
                 .filter(pk=_ANY_ID, revoked_at__isnull=True, tenant__is_active=True).order_by().query)
        compiler = query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        # The columns it selects, in its order (the model's concrete fields), and what turns each column's database
        # value into the field's (SQLite's dates are text, say), as the ORM applies them.
        columns = [column for column, _, _ in compiler.select]
        converters = sorted(compiler.get_converters(columns).items())
        compiled = (sql, params, [column.target.attname for column in columns], converters)
        _compiled.clear()
        _compiled[key] = compiled
    sql, params, names, converters = compiled
    params = [int(agent_id) if p == _ANY_ID else p for p in params]
    first_use = None
    if nonce is not None and connection.vendor == "postgresql":
        row, first_use = services.serving_agent_nonce_use(serving=(sql, params), nonce=nonce)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:
        return None, None
    values = list(row)
    for index, (functions, expression) in converters:
        for convert in functions:
            values[index] = convert(values[index], expression, connection)
    return Agent.from_db(connection.alias, names, values), first_use


@lru_cache(maxsize=4096)
def _public_key(text: str):
    """The agent's parsed public key, by its text (a key row's text always parses to the same key)."""
    return protocol.public_key_from_text(text)


def claimed_agent(headers) -> Agent | None:
    """The serving agent a request's signature headers name, before the signature is checked (it covers the body,
    which is not read yet): whether a large body is worth reading at all."""
    try:
        return _serving_agent(protocol.read_request_headers(headers).agent_id)[0]
    except protocol.ProtocolError:
        return None


class AgentSignatureAuthentication(BaseAuthentication):
    def authenticate(self, request):
        if protocol.HEADER_SIGNATURE not in request.headers:
            return None
        try:
            signed = protocol.read_request_headers(request.headers)
        except protocol.ProtocolError as exc:
            raise exceptions.AuthenticationFailed(exc.message) from None
        agent, first_use = _serving_agent(signed.agent_id, signed.nonce)
        if agent is None:
            raise exceptions.AuthenticationFailed(NOT_RECOGNISED)
        try:
            protocol.verify_request(_public_key(agent.public_key), signed, method=request.method,
                                    path=request.get_full_path(), body=request.body)
        except protocol.ProtocolError:
            if first_use:
                services.agent_nonce_unuse(agent=agent, nonce=signed.nonce)
            raise exceptions.AuthenticationFailed(NOT_RECOGNISED) from None
        if first_use is None:
            first_use = services.agent_nonce_use(agent=agent, nonce=signed.nonce)
        if not first_use:
            raise exceptions.AuthenticationFailed(REPLAYED)
        return AgentPrincipal.of(agent), agent

    def authenticate_header(self, request):
        return protocol.SCHEME  # a 401, not a 403, for a request that is not (properly) signed


class IsAgent(BasePermission):
    message = "This endpoint is for connector agents."

    def has_permission(self, request, view):
        return isinstance(request.user, AgentPrincipal)


class AgentSignatureScheme(OpenApiAuthenticationExtension):
    target_class = AgentSignatureAuthentication
    name = "agentSignature"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": protocol.HEADER_SIGNATURE,
                "description": "Ed25519 signature by the agent's key over the canonical request "
                               "(connector/protocol.py), with X-Agent-Id, X-Agent-Time and X-Agent-Nonce."}
