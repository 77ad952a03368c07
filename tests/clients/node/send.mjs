// An independent HL7 v2 sender for the MLLP wire tests: node-hl7-client
// builds one ADT^A04 (v2.5.1) per control id with its message builder and
// sends them all on ONE connection, each after the previous one's ACK.
//
// usage: node send.mjs HOST PORT CONTROL_ID...
// prints one line per acknowledgement: ack <MSA-1> <MSA-2> <ACK's MSH-10>
// exits 0 when every message was answered, 1 on a timeout (10 s) or error,
// 2 on bad arguments.

import { Client, Message } from "node-hl7-client";
import { HL7_2_5_1 } from "node-hl7-client/hl7";

const TIMEOUT_MS = 10_000;

function fail(why, code = 1) {
  process.stderr.write(`send.mjs: ${why}\n`);
  process.exit(code);
}

const [host, portText, ...controlIds] = process.argv.slice(2);
const port = Number(portText);
if (!host || !Number.isInteger(port) || port < 1 || controlIds.length === 0) {
  fail("usage: node send.mjs HOST PORT CONTROL_ID...", 2);
}

function buildA04(controlId) {
  const message = new Message({
    specification: new HL7_2_5_1(),
    messageHeader: {
      msh_9_1: "ADT",
      msh_9_2: "A04",
      msh_9_3: "ADT_A01",
      msh_10: controlId,
      msh_11_1: "P",
    },
  });
  message.set("MSH.3", "NODEHL7");
  message.set("MSH.4", "SITE");
  message.set("MSH.5", "HEMOLINK");
  message.set("MSH.6", "HUB");
  const evn = message.addSegment("EVN");
  evn.set("1", "A04");
  evn.set("2", "20261121101500");
  const pid = message.addSegment("PID");
  pid.set("1", "1");
  pid.set("3.1", `N-${controlId}`);
  pid.set("3.4", "SITE");
  pid.set("3.5", "MR");
  pid.set("5.1", "Node");
  pid.set("5.2", "Ann");
  pid.set("7", "19800101");
  pid.set("8", "F");
  return message;
}

// A promise that rejects after TIMEOUT_MS with `what` in its message.
function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${TIMEOUT_MS / 1000} s ${what}`)),
      TIMEOUT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Acknowledgements arrive through the connection's handler: each one settles
// the waiter of the message in flight (one at a time, waitAck is on).
let waiter = null;
const stray = [];
const client = new Client({ host });
const connection = client.createConnection(
  { port, waitAck: true },
  async (response) => {
    const ack = response.getMessage();
    const answer = {
      code: ack.get("MSA.1").toString(),
      ackedId: ack.get("MSA.2").toString(),
      ackId: ack.get("MSH.10").toString(),
    };
    if (waiter) {
      const { resolve } = waiter;
      waiter = null;
      resolve(answer);
    } else {
      stray.push(answer);
    }
  },
);
connection.on("data.error", (err) => {
  if (waiter) waiter.reject(new Error(`unreadable reply: ${err?.message ?? err}`));
});
connection.on("client.error", (err) => {
  if (waiter) waiter.reject(new Error(`connection error: ${err?.message ?? err}`));
});

async function main() {
  // Send only once connected: a message sent before that is queued and
  // makes the library open a second socket.
  await within(
    new Promise((resolve) => connection.once("connect", resolve)),
    `connecting to ${host}:${port}`,
  );
  for (const controlId of controlIds) {
    const message = buildA04(controlId);
    const answered = new Promise((resolve, reject) => {
      waiter = { resolve, reject };
    });
    await connection.sendMessage(message);
    const ack = await within(answered, `waiting for the ACK of ${controlId}`);
    process.stdout.write(`ack ${ack.code} ${ack.ackedId} ${ack.ackId}\n`);
  }
  if (stray.length > 0) {
    throw new Error(`${stray.length} unexpected extra acknowledgement(s)`);
  }
}

try {
  await main();
  await connection.close();
  client.closeAll();
  process.exitCode = 0;
} catch (err) {
  await connection.close().catch(() => {});
  client.closeAll();
  fail(err?.message ?? String(err));
}
