// Lesson 11's server against a second client nobody here wrote: Node's `ws` library.
//
//   node tests/browser/ws11_client.mjs target/debug/11-ws-server
//
// Starts the server three times on free ports (the defaults; `--max-message 1024`; one to stop
// with SIGTERM) and runs against /echo the same cases as tests/peers/ws11_client.py, as far as
// `ws` goes: it sends fragments (`send(data, { fin: false })`), text that is not UTF-8 (a
// Buffer sent with `binary: false` is not checked) and even unmasked frames (`mask: false`), so
// only the check that the server closes TCP first needs a raw socket (`ws` hides who closed).
// Prints one `ok CASE: detail` line per case; exits 1 at the first failure.
import WebSocket from "ws";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { connect as tcpConnect } from "node:net";
import { randomBytes } from "node:crypto";

const MIB = 1 << 20;
const binary = process.argv[2];
if (!binary) fail("usage: ws11_client.mjs PATH/TO/11-ws-server");

const servers = [];
function fail(message) {
  console.log("FAIL: " + message);
  for (const s of servers) s.kill("SIGKILL");
  process.exit(1);
}
function check(condition, message) {
  if (!condition) fail(message);
}
function ok(name, detail) {
  console.log(detail ? `ok ${name}: ${detail}` : `ok ${name}`);
}
const timer = setTimeout(() => fail("timed out after 120 s"), 120_000);

// The server on a free port: its process and ws:// base address, from its first line.
function start(...flags) {
  const proc = spawn(binary, ["--addr", "127.0.0.1:0", ...flags], { stdio: ["ignore", "pipe", "inherit"] });
  servers.push(proc);
  return new Promise((resolve) => {
    const lines = createInterface({ input: proc.stdout });
    lines.once("line", (line) => {
      check(line.startsWith("listening on ws://"), `not a listening line: ${line}`);
      resolve({ proc, base: line.slice("listening on ".length) });
    });
  });
}

// A client whose events are awaited one at a time: `next()` is the next message, pong or
// close, in the order they arrived.
function open(base, path = "/echo") {
  // perMessageDeflate off (the server declines it anyway); maxPayload: room for 16 MiB.
  const ws = new WebSocket(base + path, { perMessageDeflate: false, maxPayload: 32 * MIB });
  const queue = [];
  let wake = null;
  const push = (event) => {
    queue.push(event);
    if (wake) wake();
  };
  ws.on("message", (data, isBinary) => push({ kind: "message", data, isBinary }));
  ws.on("pong", (data) => push({ kind: "pong", data }));
  ws.on("close", (code, reason) => push({ kind: "close", code, reason: reason.toString() }));
  ws.on("error", (e) => push({ kind: "error", message: e.message }));
  ws.next = async () => {
    while (!queue.length) await new Promise((r) => (wake = r));
    wake = null;
    return queue.shift();
  };
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

async function echo(ws, data, options = {}) {
  ws.send(data, options);
  const e = await ws.next();
  check(e.kind === "message", `expected the echo, got ${JSON.stringify(e).slice(0, 200)}`);
  const sentBinary = typeof data !== "string";
  check(e.isBinary === sentBinary, `sent ${sentBinary ? "binary" : "text"}, got the other`);
  const expected = Buffer.from(data);
  check(e.data.equals(expected), `echo differs: sent ${expected.length} bytes, got ${e.data.length}`);
}

async function expectClose(ws, code) {
  const e = await ws.next();
  check(e.kind === "close", `expected a close, got ${JSON.stringify(e).slice(0, 200)}`);
  check(e.code === code, `expected close ${code}, got ${e.code} ${e.reason}`);
  return e.reason;
}

async function messages(base) {
  const ws = await open(base);
  await echo(ws, "hello, lesson 11");
  ok("text", "'hello, lesson 11' back as text");
  const text = "héllo wörld — ✓ 日本語 𝄞";
  await echo(ws, text);
  ok("non-ascii text", `${Buffer.byteLength(text)} bytes of UTF-8`);
  await echo(ws, Buffer.from([...Array(256).keys()]));
  ok("binary", "bytes 0..255 back as binary");
  await echo(ws, "");
  ok("empty text", "'' back as text");
  await echo(ws, Buffer.alloc(0));
  ok("empty binary", "an empty Buffer back as binary");
  await echo(ws, "x");
  await echo(ws, Buffer.from([0]));
  ok("1-byte", "'x' and <00>");
  const big = randomBytes(4 * MIB);
  await echo(ws, big);
  await echo(ws, "ab".repeat(2 * MIB));
  ok("4 MiB", "binary (random bytes) and text");
  await echo(ws, Buffer.concat([big, big, big, big]));
  ok("16 MiB", `${16 * MIB} bytes, the default --max-message`);

  // fin: false makes a frame without FIN; ws sends the next ones as continuations.
  ws.send("frag", { fin: false });
  ws.send("mented ", { fin: false });
  ws.send("téxt", { fin: true });
  let e = await ws.next();
  check(e.kind === "message" && !e.isBinary && e.data.toString() === "fragmented téxt", `got ${e.data}`);
  for (let i = 0; i < 5; i++) ws.send(Buffer.alloc(1000, i), { binary: true, fin: i === 4 });
  e = await ws.next();
  const expected = Buffer.concat([0, 1, 2, 3, 4].map((i) => Buffer.alloc(1000, i)));
  check(e.kind === "message" && e.isBinary && e.data.equals(expected), "fragmented binary differs");
  ok("fragmented", "3 text fragments and 5 binary fragments, each back as one message");

  const payload = Buffer.from("are you there? \x00\xff", "latin1");
  ws.ping(payload);
  e = await ws.next();
  check(e.kind === "pong" && e.data.equals(payload), `expected the pong, got ${JSON.stringify(e)}`);
  ok("ping", "a pong with the ping's payload");

  ws.close(1000);
  const reason = await expectClose(ws, 1000);
  check(reason === "", `reason ${reason}`);
  ok("client close 1000", "the server echoed 1000");
}

async function clientClose4000(base) {
  const ws = await open(base);
  await echo(ws, "before the close");
  ws.close(4000, "done here");
  const reason = await expectClose(ws, 4000);
  // The server echoes the code (RFC 6455 5.5.1) and chooses its own reason: none.
  check(reason === "", `reason ${reason}`);
  ok("client close 4000", "code 4000 with reason 'done here'; the server echoed 4000");
}

async function serverCloses(base, small) {
  let ws = await open(small);
  await echo(ws, "y".repeat(1024));
  ws.send("z".repeat(1025));
  let reason = await expectClose(ws, 1009);
  ok("server close 1009", `1024 bytes echoed, 1025 closed with 1009 '${reason}'`);

  ws = await open(small);
  ws.send("a".repeat(600), { fin: false });
  ws.send("b".repeat(600), { fin: true });
  await expectClose(ws, 1009);
  ok("server close 1009 fragmented", "600 + 600 bytes in two fragments");

  ws = await open(base);
  ws.send(Buffer.from([0x6f, 0x6b, 0x20, 0xff, 0xfe]), { binary: false });
  reason = await expectClose(ws, 1007);
  ok("server close 1007", `text with bytes ff fe: '${reason}'`);

  ws = await open(base);
  ws.send("caf", { fin: false });
  ws.send(Buffer.from([0xc3, 0x28]), { binary: false, fin: true });
  reason = await expectClose(ws, 1007);
  ok("server close 1007 fragmented", `c3 28 in a continuation: '${reason}'`);

  ws = await open(base);
  // RFC 6455 5.1: "The server MUST close the connection upon receiving a frame that is not
  // masked."
  ws.send("unmasked", { mask: false });
  reason = await expectClose(ws, 1002);
  ok("server close 1002", `an unmasked frame: '${reason}'`);
}

// The closing handshake over a raw socket, to see that the server closes TCP after its Close.
function serverClosesTcp(base) {
  const [host, port] = base.slice("ws://".length).split(":");
  return new Promise((resolve) => {
    const sock = tcpConnect(Number(port), host);
    let got = Buffer.alloc(0);
    let upgraded = false;
    sock.on("connect", () => {
      sock.write(
        `GET /echo HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    sock.on("data", (data) => {
      got = Buffer.concat([got, data]);
      if (!upgraded && got.includes("\r\n\r\n")) {
        check(got.toString("latin1").startsWith("HTTP/1.1 101 "), `not a 101: ${got}`);
        got = got.subarray(got.indexOf("\r\n\r\n") + 4);
        upgraded = true;
        // A masked Close (FIN + opcode 8, MASK + length 5, key, payload): 1000 "bye".
        const key = randomBytes(4);
        const payload = Buffer.from([0x03, 0xe8, ...Buffer.from("bye")]);
        sock.write(Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), key, payload.map((b, i) => b ^ key[i % 4])]));
      }
    });
    sock.on("end", () => {
      check(upgraded, "EOF before the 101");
      // The server's Close: 88 02 03 e8, nothing after it.
      check(got.equals(Buffer.from([0x88, 0x02, 0x03, 0xe8])), `got ${got.toString("hex")} before EOF`);
      sock.end();
      ok("server closes tcp", "close 1000 echoed, then the server closed TCP");
      resolve();
    });
    sock.on("error", (e) => fail(`raw socket: ${e.message}`));
  });
}

async function sigterm() {
  const { proc, base } = await start();
  const ws = await open(base);
  await echo(ws, "still here");
  const exited = new Promise((r) => proc.once("exit", (code, signal) => r({ code, signal })));
  proc.kill("SIGTERM");
  const reason = await expectClose(ws, 1001);
  const { code, signal } = await exited;
  check(code === 0, `the server exited with ${code} (${signal})`);
  ok("server close 1001 on SIGTERM", `reason '${reason}'; the server exited 0`);
}

const { base } = await start();
const { base: small } = await start("--max-message", "1024");
await messages(base);
await clientClose4000(base);
await serverCloses(base, small);
await serverClosesTcp(base);
await sigterm();
clearTimeout(timer);
for (const s of servers) s.kill("SIGKILL");
console.log("all cases passed");
