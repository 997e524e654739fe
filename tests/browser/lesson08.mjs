// Lesson 08 in a real browser: the page at / follows the feed five ways (polling, long polling,
// fetch streaming, EventSource, WebSocket); events published from outside must reach all five
// panels (every key of the page's window.received).
//
//   node tests/browser/lesson08.mjs http://127.0.0.1:PORT [screenshot.png]
//
// Prints what each technique received and the headers Chromium sent with a poll.
import { launch, fail } from "./chromium.mjs";

const [url, screenshot] = process.argv.slice(2);
if (!url) fail("usage: lesson08.mjs URL [SCREENSHOT]");

const { context, close } = await launch();
const timer = setTimeout(() => fail("timed out after 40 s"), 40_000);
try {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  let pollHeaders = null;
  page.on("request", async (r) => {
    if (!pollHeaders && r.url().includes("/poll?since=")) pollHeaders = await r.allHeaders();
  });
  await page.goto(url + "/");
  await page.waitForFunction(() => window.following === true, null, { timeout: 10_000 });

  // Publish from outside the page, as another client would.
  const ids = [];
  for (const text of ["first from the test", "second, with \"quotes\" and é", "third"]) {
    const r = await fetch(url + "/api/publish", { method: "POST", body: text });
    if (r.status !== 200) fail(`publish answered ${r.status}`);
    ids.push((await r.json()).id);
  }
  // And one through the page's own form.
  await page.fill("#text", "typed into the page");
  await page.click("#publish button");
  await page.waitForFunction(() => /published as event/.test(document.getElementById("published").textContent));
  ids.push(Number((await page.textContent("#published")).match(/\d+/)[0]));

  try {
    await page.waitForFunction(
      (ids) => Object.values(window.received).every((got) => ids.every((id) => got.includes(id))),
      ids,
      { timeout: 15_000, polling: 100 },
    );
  } catch (e) {
    const got = await page.evaluate(() => window.received);
    fail(`not every technique received events ${ids}: ${JSON.stringify(got)}`);
  }
  const received = await page.evaluate(() => window.received);
  const text = await page.evaluate(() => document.getElementById("sse").innerText);
  if (!text.includes("second, with \"quotes\" and é")) fail("the SSE panel does not show the event's text");
  const wsText = await page.evaluate(() => document.getElementById("ws").innerText);
  if (!wsText.includes("second, with \"quotes\" and é")) fail("the WebSocket panel does not show the event's text");
  if (errors.length) fail("errors on the page: " + errors.join("; "));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ published: ids, received, pollHeaders }));
} finally {
  clearTimeout(timer);
  await close();
}
