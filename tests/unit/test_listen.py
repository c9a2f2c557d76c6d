"""The server's listening socket: its connections answer without Nagle's delay."""

from __future__ import annotations

import asyncio
import socket

from autopilot.cli import _listen


def test_connections_of_the_listening_socket_send_without_delay() -> None:
    """asyncio sets TCP_NODELAY only on connections of a socket made for IPPROTO_TCP; without
    it every answer on a kept-alive connection waits for the client's delayed ACK (40 ms)."""

    async def accepted_nodelay() -> int:
        listening = _listen("127.0.0.1", 0)
        port = listening.getsockname()[1]
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            value = await asyncio.wait_for(seen, 10)
            writer.close()
        return value

    assert asyncio.run(accepted_nodelay()) != 0
