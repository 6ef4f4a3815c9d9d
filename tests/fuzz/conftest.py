from _pytest.nodes import Node

# schemathesis 4.32's fixture-loaded schemas (schemathesis.pytest.from_fixture) rename the running test through
# `Node._nodeid`, which pytest 9.2 no longer has: without it every run fails before its first request. Reading it
# gives the node id; renaming is left out (each operation still reports as its own subtest). Inert once either
# side defines it again.
if not hasattr(Node, "_nodeid"):
    Node._nodeid = property(lambda node: node.nodeid, lambda node, value: None)
