"""The health endpoint: /healthz (process up), /readyz (database, scheduler, Discord), /metrics."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from aiohttp import web

Check = Callable[[], Awaitable[dict[str, bool]]]
Exposition = Callable[[], Awaitable[bytes]]


class HealthServer:
    """A tiny aiohttp server in the service's own process and loop."""

    def __init__(
        self,
        host: str,
        port: int,
        readiness: Check,
        *,
        metrics: Exposition | None = None,
        metrics_content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        self._host = host
        self._port = port
        self._readiness = readiness
        self._metrics = metrics
        self._metrics_content_type = metrics_content_type
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        """Listen on the configured address."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        if self._metrics is not None:
            app.router.add_get("/metrics", self._metrics_page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        # Port 0 asks the OS for a free port; report the one it gave.
        for address in self._runner.addresses:
            self.port = int(address[1])

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _request: web.Request) -> web.Response:
        checks = await self._readiness()
        ready = all(checks.values())
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return web.Response(
            text=json.dumps(body), status=200 if ready else 503, content_type="application/json"
        )

    async def _metrics_page(self, _request: web.Request) -> web.Response:
        assert self._metrics is not None
        body = await self._metrics()
        return web.Response(body=body, headers={"Content-Type": self._metrics_content_type})
