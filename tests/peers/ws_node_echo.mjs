// An echo server on Node's `ws` library (not ours), for lesson 12's client tests.
//
//   node tests/peers/ws_node_echo.mjs          # prints: listening on ws://127.0.0.1:PORT
//
// Every text and binary message comes back as it came. Two extras make the server's side of
// things testable: the text "close-me CODE REASON" makes the server start the closing handshake
// with that code, and an upgrade to /refuse is answered 403 with a reason in the body.
import http from "node:http";
import { WebSocketServer } from "../browser/node_modules/ws/wrapper.mjs";

const server = http.createServer((_, res) => res.writeHead(404).end());
// perMessageDeflate off: lesson 12's client offers no extension, and the server would not use
// one it was not offered anyway.
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 << 20 });
server.on("upgrade", (req, socket, head) => {
  if (req.url === "/refuse") {
    const body = "refused by the test server\n";
    socket.end(
      `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? null : data.toString();
      const m = text && text.match(/^close-me (\d+) ?(.*)$/);
      if (m) ws.close(Number(m[1]), m[2]);
      else ws.send(data, { binary: isBinary });
    });
  });
});
server.listen(0, "127.0.0.1", () => {
  const { address, port } = server.address();
  console.log(`listening on ws://${address}:${port}`);
});
