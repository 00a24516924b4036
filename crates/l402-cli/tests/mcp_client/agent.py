"""Drives `l402 mcp` over stdio with the Python MCP SDK (PyPI package `mcp`), the way an
agent application would, against `l402 dev-node` + `l402 proxy` + `l402 echo`.

Run by the Rust test `mcp_python` (crates/l402-cli/tests/all/mcp_python.rs), which starts
the loop and passes its settings as a JSON file: python3 agent.py settings.json
"""

import asyncio
import json
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError


def payments(cfg):
    """Payments the dev-node's mock network has seen."""
    with open(cfg["status_file"]) as f:
        return json.load(f)["payments"]


def wait_payments(cfg, n):
    """The dev-node rewrites its status file after each payment: poll until it shows n,
    then make sure it stays there a moment (no late extra payment)."""
    deadline = time.time() + 30
    while payments(cfg) != n:
        assert payments(cfg) < n, f"expected {n} payments, saw {payments(cfg)}"
        assert time.time() < deadline, f"expected {n} payments, saw {payments(cfg)}"
        time.sleep(0.05)
    time.sleep(0.3)
    assert payments(cfg) == n, f"expected {n} payments, saw {payments(cfg)}"


def ok(result):
    assert not result.isError, f"tool failed: {result.structuredContent}"
    return result.structuredContent


def refused(result, limit):
    assert result.isError, f"tool did not refuse: {result.structuredContent}"
    e = result.structuredContent
    assert e["error"] == "refused", e
    assert e["limit"] == limit, e
    assert e["nothing_paid"] is True, e
    return e


def server(cfg, extra):
    return StdioServerParameters(
        command=cfg["l402"], args=["mcp", *cfg["args"], *extra], env=cfg["env"]
    )


async def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    proxy = cfg["proxy"]

    async with stdio_client(server(cfg, ["--allow-private"])) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()

            tools = await s.list_tools()
            names = sorted(t.name for t in tools.tools)
            assert names == [
                "budget", "decode", "fetch", "forget_token", "payments", "quote", "tokens",
            ], names
            fetch = next(t for t in tools.tools if t.name == "fetch")
            assert "max_cost_sat" in fetch.inputSchema["properties"], fetch.inputSchema
            assert fetch.outputSchema is not None

            # quote: the price, nothing paid.
            q = ok(await s.call_tool("quote", {"url": f"{proxy}/echo/one"}))
            assert q["payment_required"] is True, q
            assert q["price_sat"] == 10, q
            assert q["network"] == "regtest", q
            assert q["fits"] is True, q
            wait_payments(cfg, 0)

            # A max_cost_sat below the price: refused, nothing paid.
            refused(
                await s.call_tool("fetch", {"url": f"{proxy}/echo/one", "max_cost_sat": 5}),
                "max_cost_sat",
            )
            wait_payments(cfg, 0)

            # fetch pays once...
            f1 = ok(await s.call_tool("fetch", {"url": f"{proxy}/echo/one"}))
            assert f1["status"] == 200, f1
            assert json.loads(f1["body"])["path"] == "/echo/one", f1
            assert f1["paid"]["amount_msat"] == 10_000, f1
            wait_payments(cfg, 1)
            # ...and the second fetch reuses the token.
            f2 = ok(await s.call_tool("fetch", {"url": f"{proxy}/echo/two"}))
            assert f2["status"] == 200, f2
            assert f2["paid"] is None, f2
            assert f2["token_reused"] is True, f2
            wait_payments(cfg, 1)

            # Another service (its own token with --path-scope 1): the second payment.
            f3 = ok(await s.call_tool("fetch", {"url": f"{proxy}/premium/x"}))
            assert f3["paid"]["amount_msat"] == 10_000, f3
            wait_payments(cfg, 2)
            # The budget (30 sat; each payment reserves 10 + a 2 sat fee cap, costs 11)
            # stops the third.
            refused(await s.call_tool("fetch", {"url": f"{proxy}/extra/x"}), "budget")
            wait_payments(cfg, 2)
            b = ok(await s.call_tool("budget", {}))
            assert b["payments"] == 2, b
            assert b["spent_msat"] == 22_000, b

            h = ok(await s.call_tool("payments", {}))
            assert len(h["payments"]) == 2, h
            t = ok(await s.call_tool("tokens", {}))
            assert len(t["tokens"]) == 2, t

            # Malformed arguments: a JSON-RPC error, and the server keeps serving.
            for tool, args in [
                ("fetch", {"url": 5}),
                ("fetch", {"url": f"{proxy}/echo/one", "max_cost_sat": "lots"}),
                ("fetch", {}),
                ("no_such_tool", {}),
            ]:
                try:
                    r_ = await s.call_tool(tool, args)
                except McpError as e:
                    assert e.error.code == -32602, e.error
                else:
                    raise AssertionError(f"{tool} {args}: no JSON-RPC error: {r_}")
            ok(await s.call_tool("budget", {}))

    # Without --allow-private, the local proxy is refused.
    async with stdio_client(server(cfg, [])) as (r, w):
        async with ClientSession(r, w) as s:
            await s.initialize()
            refused(
                await s.call_tool("fetch", {"url": f"{proxy}/echo/one"}), "private_address"
            )
            refused(
                await s.call_tool("fetch", {"url": "http://169.254.169.254/latest/meta-data/"}),
                "private_address",
            )
    wait_payments(cfg, 2)
    print("mcp client: all checks passed")


asyncio.run(main())
