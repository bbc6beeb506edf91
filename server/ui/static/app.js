// Chronicle's web UI: a little script for the live parts of the pages.
// Everything from the server is put in the page with textContent, never
// as HTML, so event contents cannot inject markup.
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// errorOf returns the message of a failed API answer.
async function errorOf(resp) {
  try {
    const body = await resp.json();
    if (body && body.error) return body.error;
  } catch (e) { /* not JSON */ }
  return "the server answered " + resp.status + " " + resp.statusText;
}

async function postJSON(url, body) {
  const resp = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!resp.ok) throw new Error(await errorOf(resp));
  return resp.json();
}

// jsonTokens calls f with each token of JSON text and its index: a
// string, one of the characters {}[],: or a run of the others (a number,
// true, false or null), leaving out the spaces between them, until f
// returns true.
function jsonTokens(text, f) {
  const token = /"[^"\\]*(?:\\.[^"\\]*)*"|[{}[\],:]|[^"{}[\],:\s]+/g;
  for (let m = token.exec(text); m !== null; m = token.exec(text)) {
    if (f(m[0], m.index)) return;
  }
}

// memberText returns the JSON text of the value of the member name of the
// object that text holds, as it is written there.
function memberText(text, name) {
  const key = JSON.stringify(name);
  let depth = 0, prev = "", start = -1, value = "";
  jsonTokens(text, (tok, i) => {
    if (tok === "{" || tok === "[") depth++;
    else if (tok === "}" || tok === "]") depth--;
    if (start >= 0 && (depth === 0 || (depth === 1 && tok === ","))) {
      value = text.slice(start, i).trim();
      return true;
    }
    if (depth === 1 && tok === ":" && prev === key) start = i + 1;
    prev = tok;
    return false;
  });
  return value;
}

// indentJSON indents JSON text as Go's json.Indent does with an indent of
// two spaces, and changes nothing else: its numbers, strings and the
// order of its keys stay as they are written.
function indentJSON(text) {
  const out = [], newlines = [];
  let depth = 0, opened = false;
  const newline = () => newlines[depth] || (newlines[depth] = "\n" + "  ".repeat(depth));
  jsonTokens(text, (tok) => {
    const closes = tok === "}" || tok === "]";
    if (closes) depth--;
    // An empty object or array stays {} or [].
    if (opened !== closes) out.push(newline());
    opened = false;
    out.push(tok);
    if (tok === "{" || tok === "[") {
      depth++;
      opened = true;
    } else if (tok === ",") out.push(newline());
    else if (tok === ":") out.push(" ");
    return false;
  });
  return out.join("");
}

// prettyData shows an event's data as the server's pages do (ui.go's
// prettyData): JSON indented, other text as it is, binary data in base64.
// JSON is taken from raw, the text of the message that ev was parsed
// from: JSON.parse would round numbers beyond a double's precision, put
// integer keys first, and undo escapes. The API sends text that is not
// JSON in base64, as it does bytes.
function prettyData(ev, raw) {
  if (ev.data !== undefined) {
    const text = memberText(raw, "data");
    const bytes = new TextEncoder().encode(text);
    return bytes.length > maxShownData ? shortened(bytes) : indentJSON(text);
  }
  if (ev.dataBase64 === undefined) return "";
  const bytes = Uint8Array.from(atob(ev.dataBase64), (c) => c.charCodeAt(0));
  if (bytes.length > maxShownData) return shortened(bytes);
  try {
    // fatal: bytes that are not UTF-8 are binary, as utf8.Valid says;
    // ignoreBOM: a byte order mark is part of the data, kept.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (e) {
    return "base64: " + ev.dataBase64;
  }
}

// maxShownData is how much of an event's data a row shows, as on the
// server's pages (maxShownData in ui.go): an event may be many MiB.
const maxShownData = 64 * 1024;

// shortened shows the first maxShownData bytes of data, cut where a
// character starts, as text if they are UTF-8 and else in base64, and
// says how long the data is, as the server's pages do (shortened in
// ui.go).
function shortened(bytes) {
  const note = "\n… shortened: the data is " + bytes.length + " bytes; the API's read of the event has it all";
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  for (let cut = 0; cut < 4; cut++) {
    try {
      return decoder.decode(bytes.subarray(0, maxShownData - cut)) + note;
    } catch (e) {
      // cut in the middle of a character, or not text: try shorter
    }
  }
  let bin = "";
  for (const b of bytes.subarray(0, maxShownData)) bin += String.fromCharCode(b);
  return "base64: " + btoa(bin) + note;
}

// shownTime shows an API time ("2006-01-02T15:04:05.000000Z") as the
// server's pages do ("2006-01-02 15:04:05.000000 UTC"), so that the rows
// that arrive live look like those the page came with.
function shownTime(recorded) {
  return recorded.replace("T", " ").replace(/Z$/, " UTC");
}

// reopenMillis is how long follow waits before it subscribes again, as
// long as the server's retry tells EventSource to wait.
const reopenMillis = 2000;

// follow subscribes to url, a subscription of the API whose "from"
// parameter says where it starts, and calls on.message with each event's
// message, on.open when connected and on.lost when not. EventSource
// reconnects by itself when the connection drops, resuming after the last
// event with Last-Event-ID, but gives up for good when it is answered with
// something other than an event stream: a proxy's 502 while the server
// restarts, 503 when the server serves too many subscriptions. follow then
// subscribes again, from after the last event received (each event's id
// is its position or revision), so that the page goes on showing events,
// none missed or repeated.
function follow(url, on) {
  let last = "";
  const open = () => {
    const u = new URL(url, location.href);
    if (last !== "") u.searchParams.set("from", String(BigInt(last) + 1n));
    const source = new EventSource(u);
    // told is set when the server has said why the subscription fails,
    // in an "error" event: it then ends the connection, which is no news.
    let told = false;
    source.onopen = () => {
      told = false;
      if (on.open) on.open();
    };
    source.onerror = (e) => {
      // The server's own "error" events carry data: they are shown by
      // the listener below.
      if (e.data) return;
      if (on.lost && !told) on.lost();
      if (source.readyState === EventSource.CLOSED) setTimeout(open, reopenMillis);
    };
    source.addEventListener("error", (msg) => {
      if (!msg.data) return;
      told = true;
      const err = JSON.parse(msg.data);
      // A tombstoned stream never has events again: subscribing again
      // would only be told so again.
      if (err.code === "stream_deleted") source.close();
      if (on.failed) on.failed(err.error);
    });
    source.onmessage = (msg) => {
      last = msg.lastEventId;
      on.message(msg);
    };
  };
  open();
}

// Live tail: prepend each event that arrives.
function startTail(table) {
  const status = document.getElementById("tail-status");
  const body = table.tBodies[0];
  follow(table.dataset.source, {
    open: () => { status.textContent = "Live: new events appear at the top."; },
    lost: () => { status.textContent = "Connection lost: reconnecting…"; },
    failed: (error) => { status.textContent = error; },
    message: (msg) => showEvent(body, msg),
  });
}

// showEvent puts the event of a message at the top of the tail.
function showEvent(body, msg) {
  const ev = JSON.parse(msg.data);
  const row = el("tr", undefined, "new");
  row.append(el("td", String(ev.position)));
  const link = el("a", ev.stream);
  link.href = "/streams/" + encodeURIComponent(ev.stream);
  const cell = el("td");
  cell.append(link);
  row.append(cell, el("td", String(ev.revision)), el("td", ev.type), el("td", shownTime(ev.recorded)));
  const data = el("td");
  data.append(el("pre", prettyData(ev, msg.data)));
  row.append(data);
  body.prepend(row);
  while (body.rows.length > 500) body.deleteRow(-1);
}

// New game form: create it, then open it as player one.
function startNewGame(form) {
  const errorBox = document.getElementById("new-game-error");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    errorBox.hidden = true;
    const one = form.elements.playerOne.value, two = form.elements.playerTwo.value;
    try {
      const game = await postJSON("/api/games", { playerOne: one, playerTwo: two });
      location.href = "/games/" + game.id + "?as=" + encodeURIComponent(game.playerOne);
    } catch (err) {
      errorBox.textContent = err.message;
      errorBox.hidden = false;
    }
  });
}

// Game page: the board, the event log, the replay slider, and the moves
// of the other window arriving over Server-Sent Events.
function startGame(root) {
  let game = JSON.parse(root.dataset.game);
  const as = root.dataset.as;
  const board = document.getElementById("board");
  const banner = document.getElementById("banner");
  const errorBox = document.getElementById("move-error");
  const log = document.getElementById("log");
  const slider = document.getElementById("replay");
  const label = document.getElementById("step-label");

  function showBoard(cells, win) {
    const winning = new Set((win || []).map(([c, r]) => c + "," + r));
    for (const cell of board.querySelectorAll(".cell")) {
      const [c, r] = cell.dataset.cell.split(",").map(Number);
      cell.className = "cell " + cells[r][c] + (winning.has(c + "," + r) ? " win" : "");
    }
  }

  function showStep(n) {
    const steps = game.steps;
    const last = n === steps.length;
    showBoard(steps[n - 1].board, last ? game.win : []);
    label.textContent = n + " of " + steps.length + (last ? "" : " (replay)");
    for (const li of log.children) li.classList.toggle("current", Number(li.dataset.revision) === n - 1);
  }

  function render() {
    banner.textContent = game.outcome ? game.outcome : game.next + " to play" + (game.next === as ? " (you)" : "");
    banner.classList.toggle("over", !!game.outcome);
    log.replaceChildren(...game.steps.map((st) => {
      const li = el("li");
      li.dataset.revision = st.event.revision;
      li.append(el("span", st.event.type, "type"), " " + st.description);
      return li;
    }));
    const atEnd = Number(slider.value) === Number(slider.max);
    slider.max = game.steps.length;
    if (atEnd) slider.value = game.steps.length;
    showStep(Number(slider.value));
    for (const b of board.querySelectorAll(".column")) b.disabled = !!game.outcome || !as;
  }

  async function refresh() {
    const resp = await fetch("/api/games/" + game.id);
    if (resp.ok) { game = await resp.json(); render(); }
  }

  async function play(column) {
    errorBox.hidden = true;
    if (!as) {
      errorBox.textContent = "Choose which player you are first.";
      errorBox.hidden = false;
      return;
    }
    try {
      game = await postJSON("/api/games/" + game.id + "/moves", { player: as, column: column });
      render();
    } catch (err) {
      errorBox.textContent = err.message;
      errorBox.hidden = false;
    }
  }

  board.addEventListener("click", (e) => {
    const t = e.target;
    if (t.dataset.column) play(t.dataset.column);
    else if (t.dataset.cell && as && !game.outcome) play("ABCDEFG"[Number(t.dataset.cell.split(",")[0])]);
  });
  slider.addEventListener("input", () => showStep(Number(slider.value)));

  // Follow the game's stream from the next revision: each new event
  // means the other window moved.
  // A winning move brings two events at once: refresh once for both.
  let pending = null;
  follow("/api/streams/" + encodeURIComponent(game.stream) + "/subscribe?from=" + (game.revision + 1), {
    message: () => {
      clearTimeout(pending);
      pending = setTimeout(refresh, 25);
    },
  });
  render();
}

document.addEventListener("DOMContentLoaded", () => {
  const tail = document.getElementById("tail");
  if (tail) startTail(tail);
  const form = document.getElementById("new-game");
  if (form) startNewGame(form);
  const game = document.getElementById("game");
  if (game) startGame(game);
});
