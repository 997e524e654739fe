// Lesson 11 in a real browser: the chat page at / opens its own WebSocket to /chat; two pages
// in one room see each other's lines (and their own), a page in another room sees neither.
//
//   node tests/browser/lesson11.mjs http://127.0.0.1:PORT [screenshot.png]
//
// Prints each page's log as JSON.
import { launch, fail } from "./chromium.mjs";

const [url, screenshot] = process.argv.slice(2);
if (!url) fail("usage: lesson11.mjs URL [SCREENSHOT]");

const { context, close } = await launch();
const timer = setTimeout(() => fail("timed out after 40 s"), 40_000);
try {
  const errors = [];
  async function join(room, name) {
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(`${name}: ${e.message}`));
    // Chromium asks for /favicon.ico by itself; the server has none (a 404 is right).
    page.on("response", (r) => {
      if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) errors.push(`${name}: ${r.status()} for ${r.url()}`);
    });
    const response = await page.goto(`${url}/?room=${room}&name=${name}`);
    if (response.status() !== 200) fail(`GET / answered ${response.status()}`);
    try {
      await page.waitForFunction(() => document.getElementById("status").textContent === "open", null, {
        timeout: 10_000,
      });
    } catch (e) {
      fail(`${name}'s page never connected: status ${await page.textContent("#status")}`);
    }
    return page;
  }
  const lines = (page) => page.$$eval("#log li", (items) => items.map((li) => li.textContent));
  async function say(page, text) {
    await page.fill("#say [name=text]", text);
    await page.press("#say [name=text]", "Enter");
  }

  const ann = await join("T", "ann");
  const bob = await join("T", "bob");
  const carol = await join("elsewhere", "carol");
  await say(ann, "hello from ann, with é and <b>not bold</b>");
  await say(bob, "hi ann, bob here");
  const expected = ["ann: hello from ann, with é and <b>not bold</b>", "bob: hi ann, bob here"];
  for (const [name, page] of [["ann", ann], ["bob", bob]]) {
    try {
      await page.waitForFunction(
        (expected) => {
          const got = [...document.querySelectorAll("#log li")].map((li) => li.textContent);
          return expected.every((line) => got.includes(line));
        },
        expected,
        { timeout: 10_000, polling: 100 },
      );
    } catch (e) {
      fail(`${name}'s page does not show both lines: ${JSON.stringify(await lines(page))}`);
    }
  }
  // Own lines are marked as such; the markup in a line stays text.
  const mine = await ann.$$eval("#log li.mine", (items) => items.map((li) => li.textContent));
  if (mine.length !== 1 || !mine[0].startsWith("ann: ")) fail(`ann's own lines: ${JSON.stringify(mine)}`);
  if ((await ann.$$("#log b")).length) fail("a chat line was rendered as markup");
  const annLog = await lines(ann);
  if (!annLog.includes("* bob joined")) fail(`ann did not see bob join: ${JSON.stringify(annLog)}`);

  // carol's room heard nothing of T: by the time carol's own line comes back, T's lines
  // (sent before it) would have arrived too if the server had mixed the rooms up.
  await say(carol, "anyone here?");
  await carol.waitForFunction(() => document.getElementById("log").textContent.includes("carol: anyone here?"));
  const carolLog = await lines(carol);
  if (carolLog.some((line) => line.startsWith("ann") || line.startsWith("bob") || line.includes("* ann") || line.includes("* bob")))
    fail(`carol's page shows room T: ${JSON.stringify(carolLog)}`);

  // bob leaves: ann sees the notice.
  await bob.close();
  await ann.waitForFunction(() => document.getElementById("log").textContent.includes("* bob left"), null, {
    timeout: 10_000,
  });
  if (errors.length) fail("errors on the pages: " + errors.join("; "));
  if (screenshot) await ann.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ann: await lines(ann), carol: carolLog }));
} finally {
  clearTimeout(timer);
  await close();
}
