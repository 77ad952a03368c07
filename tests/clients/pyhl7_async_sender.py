"""Sends ADT^A04 messages to an MLLP listener with python-hl7's asyncio
client (hl7.mllp.open_hl7_connection), all on one connection, and prints one
line per acknowledgement: `ack <MSA-1> <MSA-2> <ACK MSH-10>`.

Usage: python3 pyhl7_async_sender.py HOST PORT CONTROL_ID...
"""

import asyncio
import sys

import hl7
from hl7.mllp import open_hl7_connection


def a04(control_id):
    return "\r".join(
        [
            "MSH|^~\\&|PYASYNC|SITE|HEMOLINK|HUB|20261121101500||ADT^A04^ADT_A01|"
            + control_id
            + "|P|2.5.1",
            "EVN|A04|20261121101500",
            "PID|1||PY" + control_id + "^^^SITE^MR||Async^Ann||19800101|F",
        ]
    )


async def main(host, port, control_ids):
    reader, writer = await open_hl7_connection(host, port)
    try:
        for control_id in control_ids:
            writer.writemessage(hl7.parse(a04(control_id)))
            await writer.drain()
            ack = await asyncio.wait_for(reader.readmessage(), 10)
            msa = ack.segment("MSA")
            print("ack", msa[1], msa[2], ack.segment("MSH")[10], flush=True)
    finally:
        writer.close()
        await writer.wait_closed()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3:]))
