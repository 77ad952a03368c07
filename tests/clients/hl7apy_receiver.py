"""An independent MLLP receiver for the outbound sender's test: hl7apy's
MLLPServer on an ephemeral port (printed on the first line), which parses
the one message it gets with hl7apy under strict validation, prints
"valid ACK <MSA-1> <MSA-2>", answers with a commit accept (CA) for its
control id, and exits."""

import sys
import threading

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.mllp import AbstractHandler, MLLPServer
from hl7apy.parser import parse_message

done = threading.Event()


class AckHandler(AbstractHandler):
    def reply(self):
        text = self.incoming_message.replace("\n", "\r")
        msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT)
        msg.validate()
        print("valid", msg.msh.msh_9.msh_9_1.value, msg.msa.msa_1.value, msg.msa.msa_2.value, flush=True)
        ack = Message("ACK", version=msg.msh.msh_12.value, validation_level=VALIDATION_LEVEL.TOLERANT)
        ack.msh.msh_3 = msg.msh.msh_5.value
        ack.msh.msh_5 = msg.msh.msh_3.value
        ack.msh.msh_10 = "R" + msg.msh.msh_10.value[-15:]
        ack.msh.msh_11 = "P"
        ack.add_segment("MSA")
        ack.msa.msa_1 = "CA"
        ack.msa.msa_2 = msg.msh.msh_10.value
        done.set()
        return "\x0b" + ack.to_er7() + "\r\x1c\r"


class ErrorHandler(AbstractHandler):
    def __init__(self, exc, msg):
        super().__init__(msg)
        self.exc = exc

    def reply(self):
        print("invalid:", repr(self.exc), flush=True)
        done.set()
        return ""


server = MLLPServer("127.0.0.1", 0, {"ACK^A04^ACK": (AckHandler,), "ERR": (ErrorHandler,)}, timeout=10)
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
if not done.wait(60):
    print("no message within 60 s", flush=True)
    sys.exit(1)
server.shutdown()
